// Command kubelab is the lab tool: local control planes and (soon) kind-launched clusters.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubelab/kubelab/components/kubelab/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := app.NewCommand(ctx).ExecuteContext(ctx); err != nil {
		stop()
		os.Exit(1)
	}
}
