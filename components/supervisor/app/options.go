// Package app is the node-supervisor command: it prepares the node, runs
// the supervisor of the node's programs and prints the line kind waits
// for; its ctl subcommand is the node's supervisorctl.
package app

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/kubelab/kubelab/components/supervisor"
	"github.com/kubelab/kubelab/components/supervisor/nodeprep"
)

// Node preparation modes.
const (
	// PrepareAuto prepares the node only when running as PID 1, i.e. as a
	// node container's init; anywhere else it would touch the host.
	PrepareAuto = "auto"
	// PrepareAlways prepares the node even when not PID 1.
	PrepareAlways = "always"
	// PrepareNever skips node preparation.
	PrepareNever = "never"
)

// Options are the node-supervisor flags.
type Options struct {
	// Config is the config file.
	Config string
	// Socket, when set, overrides the config's control socket.
	Socket string
	// PrepareNode is PrepareAuto, PrepareAlways or PrepareNever.
	PrepareNode string
	// SkipSteps are node preparation steps skipped besides the config's.
	SkipSteps []string
	// Subreaper makes the supervisor a child subreaper when it is not
	// PID 1, so it still reaps orphaned descendants.
	Subreaper bool
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{Config: supervisor.DefaultConfigPath, PrepareNode: PrepareAuto, Subreaper: true}
}

// AddGlobalFlags registers the flags that ctl and validate share.
func (o *Options) AddGlobalFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.Config, "config", "c", o.Config, "supervisor config file (YAML)")
	fs.StringVar(&o.Socket, "socket", o.Socket, "control socket (default: the config's, else "+supervisor.DefaultSocket+")")
}

// AddFlags registers the supervisor's own flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.PrepareNode, "prepare-node", o.PrepareNode,
		"prepare the node (cgroups, mounts, /dev/kmsg, sysctls, directories): auto (only as PID 1), always or never")
	fs.StringSliceVar(&o.SkipSteps, "skip-node-step", o.SkipSteps, "node preparation steps to skip: "+stepNames())
	fs.BoolVar(&o.Subreaper, "subreaper", o.Subreaper, "when not PID 1, become the child subreaper of the programs' descendants")
}

// Validate checks the flags.
func (o *Options) Validate() error {
	switch o.PrepareNode {
	case PrepareAuto, PrepareAlways, PrepareNever:
	default:
		return fmt.Errorf("--prepare-node must be auto, always or never, not %q", o.PrepareNode)
	}
	for _, s := range o.SkipSteps {
		if err := (nodeprep.Config{Skip: []nodeprep.Step{nodeprep.Step(s)}}).Validate(); err != nil {
			return fmt.Errorf("--skip-node-step: %w", err)
		}
	}
	return nil
}

// LoadConfig reads the config file and applies the flags over it.
func (o *Options) LoadConfig() (*supervisor.Config, error) {
	cfg, err := supervisor.LoadConfig(o.Config)
	if err != nil {
		return nil, err
	}
	if o.Socket != "" {
		cfg.Socket = o.Socket
	}
	for _, s := range o.SkipSteps {
		cfg.Node.Skip = append(cfg.Node.Skip, nodeprep.Step(s))
	}
	return cfg, cfg.Validate()
}

// ControlSocket is --socket, else the config's socket when the config
// can be read, else the default.
func (o *Options) ControlSocket() string {
	if o.Socket != "" {
		return o.Socket
	}
	if cfg, err := supervisor.LoadConfig(o.Config); err == nil {
		return cfg.Socket
	}
	return supervisor.DefaultSocket
}

// shouldPrepare reports whether to prepare the node.
func (o *Options) shouldPrepare() bool {
	return o.PrepareNode == PrepareAlways || o.PrepareNode == PrepareAuto && os.Getpid() == 1
}

func stepNames() string {
	s := ""
	for i, st := range nodeprep.Steps {
		if i > 0 {
			s += ", "
		}
		s += string(st)
	}
	return s
}
