// Command kube-proxy programs the node's service rules (nftables).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubelab/kubelab/components/proxy/app"
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
