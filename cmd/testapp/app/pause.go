package app

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func newPauseCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pause",
		Short: "Block until SIGTERM or SIGINT, reaping zombies (usable as PID 1)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			children := make(chan os.Signal, 8)
			signal.Notify(children, syscall.SIGCHLD)
			defer signal.Stop(children)
			for {
				select {
				case <-cmd.Context().Done():
					return nil
				case <-children:
					for {
						pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
						if pid <= 0 || err != nil {
							break
						}
					}
				}
			}
		},
	}
}
