package app

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubelab/kubelab/components/supervisor"
	"github.com/kubelab/kubelab/components/supervisor/nodeprep"
)

// ReadyLine is printed on stdout once the node is up. kind waits for a
// node container's log to match `Reached target .*Multi-User System.*`
// (systemd's line) or `detected cgroup v1`; the supervisor prints only the
// first, and only once the ready programs (containerd) run, so kind never
// goes on before the node can take its files and images.
func ReadyLine(programs []string) string {
	what := "no programs to wait for"
	switch len(programs) {
	case 0:
	case 1:
		what = programs[0] + " is running"
	default:
		what = strings.Join(programs, ", ") + " are running"
	}
	return "Reached target Multi-User System (kubelab node-supervisor: " + what + ")."
}

// NewCommand returns the node-supervisor command.
func NewCommand(ctx context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "node-supervisor",
		Short: "kubelab's node supervisor: PID 1 of a node container",
		Long: "node-supervisor is PID 1 of every kubelab node, in the spirit of supervisord.\n" +
			"It prepares the node (cgroup v1 hierarchies read-write, / rshared, /dev/kmsg,\n" +
			"sysctls, directories), starts the programs of its config (containerd, the\n" +
			"kubelet, ...) in priority order once what they wait for is there, restarts\n" +
			"them with supervisord's startsecs/startretries/autorestart semantics, keeps\n" +
			"each one's log under /var/log, reaps zombies, and on SIGTERM stops them in\n" +
			"reverse order and exits 0. It prints \"" + ReadyLine([]string{"containerd"}) + "\"\n" +
			"once the node is up. `node-supervisor ctl` controls it.",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return run(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	o.AddGlobalFlags(cmd.PersistentFlags())
	o.AddFlags(cmd.Flags())
	cmd.AddCommand(newCtlCommand(o), newValidateCommand(o))
	cmd.SetContext(ctx)
	return cmd
}

func run(ctx context.Context, o *Options, stdout io.Writer) error {
	cfg, err := o.LoadConfig()
	if err != nil {
		return err
	}
	log := slog.Default()
	if o.shouldPrepare() {
		if err := nodeprep.Prepare(ctx, cfg.Node, log); err != nil {
			return err
		}
	} else {
		log.Info("node preparation skipped", "prepareNode", o.PrepareNode, "pid", os.Getpid())
	}
	sup, err := supervisor.New(cfg, supervisor.Options{Log: log, Subreaper: o.Subreaper && os.Getpid() != 1})
	if err != nil {
		return err
	}
	go func() {
		select {
		case <-sup.Ready():
			fmt.Fprintln(stdout, ReadyLine(sup.ReadyPrograms()))
		case <-ctx.Done():
		}
	}()
	return sup.Run(ctx)
}

func newValidateCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the config file and print its programs in start order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.LoadConfig()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s: ok (socket %s)\n", o.Config, cfg.Socket)
			programs := slices.Clone(cfg.Programs)
			slices.SortStableFunc(programs, func(a, b supervisor.Program) int { return cmp.Compare(a.Priority, b.Priority) })
			for _, p := range programs {
				fmt.Fprintf(w, "  %-20s priority %-4d autostart %-5t log %s\n", p.Name, p.Priority, p.AutoStart, p.LogFile)
			}
			return nil
		},
	}
}
