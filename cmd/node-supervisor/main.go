// Command node-supervisor is PID 1 of every kubelab node container: it
// prepares the node and supervises containerd, the kubelet and the rest.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubelab/kubelab/components/supervisor/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	if err := app.NewCommand(ctx).ExecuteContext(ctx); err != nil {
		stop()
		os.Exit(1)
	}
}
