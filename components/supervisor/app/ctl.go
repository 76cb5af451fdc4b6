package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/kubelab/kubelab/components/supervisor"
)

// errFailed makes ctl exit non-zero after it printed what went wrong.
var errFailed = errors.New("some programs are not in the state asked for")

func newCtlCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ctl",
		Short: "Control a running node-supervisor, like supervisorctl",
		Long: "ctl talks to the node-supervisor over its control socket:\n" +
			"  status [NAME...]       NAME STATE and pid/uptime or why it is not running;\n" +
			"                         exits non-zero unless every program shown is RUNNING\n" +
			"  start NAME...|all      start and wait until RUNNING (--no-wait: don't wait)\n" +
			"  stop NAME...|all       stop (stopsignal, then SIGKILL after stopwaitsecs)\n" +
			"  restart NAME...|all    stop and start\n" +
			"  tail [-f] NAME         the end of the program's log; -f follows it",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	client := func() *supervisor.Client { return supervisor.NewClient(o.ControlSocket()) }

	status := &cobra.Command{
		Use:   "status [NAME...]",
		Short: "Show the programs' states",
		RunE: func(cmd *cobra.Command, names []string) error {
			all, err := client().Status(cmd.Context())
			if err != nil {
				return err
			}
			w, failed := cmd.OutOrStdout(), false
			for _, n := range names {
				if !slices.ContainsFunc(all, func(s supervisor.ProgramStatus) bool { return s.Name == n }) {
					fmt.Fprintf(w, "%s: ERROR (no such process)\n", n)
					failed = true
				}
			}
			for _, s := range all {
				if len(names) > 0 && !slices.Contains(names, s.Name) {
					continue
				}
				fmt.Fprintf(w, "%-32s %-10s %s\n", s.Name, s.State, s.Description)
				failed = failed || s.State != supervisor.Running
			}
			if failed {
				return errFailed
			}
			return nil
		},
	}

	var noWait bool
	action := func(use, short string, do func(ctx context.Context, c *supervisor.Client, name string, w io.Writer) error) *cobra.Command {
		return &cobra.Command{
			Use:   use + " NAME...|all",
			Short: short,
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, names []string) error {
				c := client()
				if slices.Contains(names, "all") {
					all, err := c.Status(cmd.Context())
					if err != nil {
						return err
					}
					names = names[:0]
					for _, s := range all {
						names = append(names, s.Name)
					}
				}
				failed := false
				for _, n := range names {
					if err := do(cmd.Context(), c, n, cmd.OutOrStdout()); err != nil {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: ERROR (%s)\n", n, reason(err))
						failed = true
					}
				}
				if failed {
					return errFailed
				}
				return nil
			},
		}
	}
	start := action("start", "Start programs", func(ctx context.Context, c *supervisor.Client, n string, w io.Writer) error {
		if _, err := c.Start(ctx, n, !noWait); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: started\n", n)
		return nil
	})
	stop := action("stop", "Stop programs", func(ctx context.Context, c *supervisor.Client, n string, w io.Writer) error {
		if _, err := c.Stop(ctx, n); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: stopped\n", n)
		return nil
	})
	restart := action("restart", "Stop and start programs", func(ctx context.Context, c *supervisor.Client, n string, w io.Writer) error {
		if _, err := c.Stop(ctx, n); err != nil && !errors.Is(err, supervisor.ErrNotRunning) {
			return err
		} else if err == nil {
			fmt.Fprintf(w, "%s: stopped\n", n)
		}
		if _, err := c.Start(ctx, n, !noWait); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: started\n", n)
		return nil
	})
	for _, c := range []*cobra.Command{start, restart} {
		c.Flags().BoolVar(&noWait, "no-wait", false, "return once the program is starting, not RUNNING")
	}

	var follow bool
	var bytes int64
	tail := &cobra.Command{
		Use:   "tail [-f] NAME",
		Short: "Show the end of a program's log",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := client().Tail(cmd.Context(), args[0], bytes, follow, cmd.OutOrStdout())
			if errors.Is(err, supervisor.ErrNoSuchProgram) {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ERROR (no such process)\n", args[0])
				return errFailed
			}
			return err
		},
	}
	tail.Flags().BoolVarP(&follow, "follow", "f", false, "follow the log until interrupted")
	tail.Flags().Int64Var(&bytes, "bytes", 1600, "how many bytes of the end to show (0: all)")

	cmd.AddCommand(status, start, stop, restart, tail)
	return cmd
}

// reason is supervisorctl's wording of an error.
func reason(err error) string {
	for _, e := range []error{supervisor.ErrNoSuchProgram, supervisor.ErrAlreadyStarted, supervisor.ErrNotRunning,
		supervisor.ErrStopping, supervisor.ErrSpawn, supervisor.ErrAbnormalTermination} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return err.Error()
}
