// Command testapp is kubelab's test workload, an agnhost-like program whose
// subcommands serve the hostname, echo over HTTP and UDP, exit with a code,
// crash, sleep, write files and print the environment.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubelab/kubelab/cmd/testapp/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	err := app.NewCommand().ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	var exit *app.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.Code)
	}
	fmt.Fprintln(os.Stderr, "Error:", err)
	os.Exit(1)
}
