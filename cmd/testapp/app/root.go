// Package app holds testapp's subcommands. Each runs in the foreground until
// it is done or its context is cancelled (SIGTERM, SIGINT).
package app

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// ExitError asks main to exit with Code. Subcommands return it instead of
// calling os.Exit so that they stay testable.
type ExitError struct {
	Code int
}

// Error implements error.
func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }

// NewCommand returns the testapp root command with every subcommand.
func NewCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "testapp",
		Short:         "testapp is kubelab's test workload (an agnhost-like program)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeHostnameCommand(),
		newNetexecCommand(),
		newExitCommand(),
		newCrashCommand(),
		newSleepCommand(),
		newWriteFileCommand(),
		newEnvCommand(),
		newExistsCommand(),
		newCatCommand(),
		newPauseCommand(),
		newHTTPGetCommand(),
		newUDPRequestCommand(),
		newConnectCommand(),
	)
	return root
}

func newExitCommand() *cobra.Command {
	var code int
	var after time.Duration
	cmd := &cobra.Command{
		Use:   "exit",
		Short: "Exit with --code after --after",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "exiting with code %d in %s\n", code, after)
			select {
			case <-time.After(after):
			case <-cmd.Context().Done():
			}
			if code == 0 {
				return nil
			}
			return &ExitError{Code: code}
		},
	}
	cmd.Flags().IntVar(&code, "code", 0, "exit code")
	cmd.Flags().DurationVar(&after, "after", 0, "how long to wait before exiting")
	return cmd
}

func newCrashCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "crash",
		Short: "Exit with code 1 at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.ErrOrStderr(), "crashing on purpose")
			return &ExitError{Code: 1}
		},
	}
}

func newSleepCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "sleep [DURATION]",
		Short: "Sleep for DURATION (Go syntax or seconds; forever without one), exit 0 on SIGTERM",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				<-cmd.Context().Done()
				return nil
			}
			d, err := parseDuration(args[0])
			if err != nil {
				return err
			}
			select {
			case <-time.After(d):
			case <-cmd.Context().Done():
			}
			return nil
		},
	}
}

// parseDuration accepts "1m30s" and, like sleep(1), a plain number of seconds.
func parseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	var secs float64
	if _, err := fmt.Sscanf(s, "%g", &secs); err != nil || secs < 0 {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

func newWriteFileCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "write-file PATH CONTENT",
		Short: "Write CONTENT to PATH (a newline is not added) and exit",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d bytes to %s\n", len(args[1]), args[0])
			return nil
		},
	}
}

func newEnvCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: "Print the environment, sorted, one NAME=value a line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), sortedEnv())
			return err
		},
	}
}

func sortedEnv() string {
	env := os.Environ()
	sort.Strings(env)
	return strings.Join(env, "\n") + "\n"
}

func newExistsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "exists PATH",
		Short: "Exit 0 if PATH exists, 1 if not (for exec probes)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if _, err := os.Stat(args[0]); err != nil {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
}

func newCatCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cat PATH...",
		Short: "Print files (the image has no shell)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, p := range args {
				b, err := os.ReadFile(p)
				if err != nil {
					return fmt.Errorf("read %s: %w", p, err)
				}
				if _, err := cmd.OutOrStdout().Write(b); err != nil {
					return err
				}
			}
			return nil
		},
	}
}
