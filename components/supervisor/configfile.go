package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"

	"github.com/kubelab/kubelab/components/supervisor/nodeprep"
)

// fileConfig is the YAML form of Config; unset fields take defaults.
type fileConfig struct {
	Socket   string          `yaml:"socket"`
	LogDir   string          `yaml:"log_dir"`
	Node     nodeprep.Config `yaml:"node"`
	Programs []fileProgram   `yaml:"programs"`
}

// fileProgram is the YAML form of Program, with supervisord's key names.
type fileProgram struct {
	Name            string            `yaml:"name"`
	Command         yaml.Node         `yaml:"command"`
	Environment     map[string]string `yaml:"environment"`
	Directory       string            `yaml:"directory"`
	Priority        *int              `yaml:"priority"`
	AutoStart       *bool             `yaml:"autostart"`
	AutoRestart     *AutoRestart      `yaml:"autorestart"`
	StartSecs       *seconds          `yaml:"startsecs"`
	StartRetries    *int              `yaml:"startretries"`
	ExitCodes       []int             `yaml:"exitcodes"`
	StopSignal      *signalName       `yaml:"stopsignal"`
	StopWaitSecs    *seconds          `yaml:"stopwaitsecs"`
	StopAsGroup     bool              `yaml:"stopasgroup"`
	KillAsGroup     bool              `yaml:"killasgroup"`
	DependsOn       []string          `yaml:"depends_on"`
	WaitFor         []Condition       `yaml:"wait_for"`
	RunningWhen     []Condition       `yaml:"running_when"`
	Ready           bool              `yaml:"ready"`
	LogFile         string            `yaml:"logfile"`
	LogFileMaxBytes *byteSize         `yaml:"logfile_maxbytes"`
	LogFileBackups  *int              `yaml:"logfile_backups"`
}

// ParseConfig decodes a YAML config strictly (unknown keys are errors),
// fills in supervisord's defaults and validates it. The file looks like:
//
//	socket: /run/kubelab/supervisor.sock   # default
//	log_dir: /var/log                      # default
//	node: {skip: [cgroups], sysctls: {...}, directories: [...]}
//	programs:
//	- name: containerd
//	  command: [/usr/local/bin/containerd]
//	  priority: 10
//	  running_when: [{socket: /run/containerd/containerd.sock}]
//	  ready: true
//
// Durations (startsecs, stopwaitsecs) are seconds, fractions allowed, or Go
// durations ("500ms"); sizes are bytes or "50MB"; autorestart is true,
// false or unexpected; stopsignal is a name (TERM, SIGINT) or number.
func ParseConfig(data []byte) (*Config, error) {
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse supervisor config: %w", err)
	}
	cfg := &Config{Socket: fc.Socket, LogDir: fc.LogDir, Node: fc.Node}
	if cfg.Socket == "" {
		cfg.Socket = DefaultSocket
	}
	if cfg.LogDir == "" {
		cfg.LogDir = DefaultLogDir
	}
	var errs []error
	for i, fp := range fc.Programs {
		p, err := fp.program(cfg.LogDir)
		if err != nil {
			errs = append(errs, fmt.Errorf("programs[%d] (%s): %w", i, fp.Name, err))
			continue
		}
		cfg.Programs = append(cfg.Programs, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// program applies the file's settings over the defaults.
func (fp *fileProgram) program(logDir string) (Program, error) {
	p := NewProgram(fp.Name, logDir)
	switch fp.Command.Kind {
	case 0:
	case yaml.SequenceNode:
		if err := fp.Command.Decode(&p.Command); err != nil {
			return p, fmt.Errorf("command: %w", err)
		}
	default:
		return p, fmt.Errorf("line %d: command must be a list of arguments (argv), e.g. [/usr/bin/containerd, --log-level, info]", fp.Command.Line)
	}
	p.Environment, p.Directory = fp.Environment, fp.Directory
	p.StopAsGroup, p.KillAsGroup = fp.StopAsGroup, fp.KillAsGroup
	p.DependsOn, p.WaitFor, p.RunningWhen, p.Ready = fp.DependsOn, fp.WaitFor, fp.RunningWhen, fp.Ready
	setIf(&p.Priority, fp.Priority)
	setIf(&p.AutoStart, fp.AutoStart)
	setIf(&p.AutoRestart, fp.AutoRestart)
	setIf(&p.StartRetries, fp.StartRetries)
	setIf(&p.LogFileBackups, fp.LogFileBackups)
	if fp.StartSecs != nil {
		p.StartSecs = time.Duration(*fp.StartSecs)
	}
	if fp.StopWaitSecs != nil {
		p.StopWait = time.Duration(*fp.StopWaitSecs)
	}
	if fp.StopSignal != nil {
		p.StopSignal = syscall.Signal(*fp.StopSignal)
	}
	if fp.LogFileMaxBytes != nil {
		p.LogFileMaxBytes = int64(*fp.LogFileMaxBytes)
	}
	if fp.ExitCodes != nil {
		p.ExitCodes = fp.ExitCodes
	}
	if fp.LogFile != "" {
		p.LogFile = fp.LogFile
	}
	return p, nil
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// AutoRestart is supervisord's autorestart setting.
type AutoRestart string

// The autorestart values.
const (
	// RestartAlways restarts a RUNNING program whenever it exits.
	RestartAlways AutoRestart = "true"
	// RestartNever leaves an exited program EXITED.
	RestartNever AutoRestart = "false"
	// RestartUnexpected restarts it when its exit code is not expected.
	RestartUnexpected AutoRestart = "unexpected"
)

// UnmarshalYAML accepts true, false and unexpected.
func (a *AutoRestart) UnmarshalYAML(n *yaml.Node) error {
	switch v := AutoRestart(strings.ToLower(n.Value)); v {
	case RestartAlways, RestartNever, RestartUnexpected:
		*a = v
		return nil
	}
	return fmt.Errorf("line %d: autorestart must be true, false or unexpected, not %q", n.Line, n.Value)
}

// seconds is a duration written as seconds (fractions allowed) or "1m30s".
type seconds time.Duration

func (s *seconds) UnmarshalYAML(n *yaml.Node) error {
	var d time.Duration
	if f, err := strconv.ParseFloat(n.Value, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		d = time.Duration(f * float64(time.Second))
	} else if d, err = time.ParseDuration(n.Value); err != nil {
		return fmt.Errorf("line %d: %q is not a number of seconds or a duration", n.Line, n.Value)
	}
	if d < 0 {
		return fmt.Errorf("line %d: %q is negative", n.Line, n.Value)
	}
	*s = seconds(d)
	return nil
}

// byteSize is a size in bytes, or with a KB, MB or GB suffix (1024-based,
// as in supervisord).
type byteSize int64

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	v, mult := strings.ToUpper(strings.TrimSpace(n.Value)), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	i, err := strconv.ParseInt(v, 10, 64)
	if err != nil || i < 0 {
		return fmt.Errorf("line %d: %q is not a size such as 1048576 or 50MB", n.Line, n.Value)
	}
	*b = byteSize(i * mult)
	return nil
}

// signalName is a signal name (TERM, SIGTERM) or number.
type signalName syscall.Signal

func (s *signalName) UnmarshalYAML(n *yaml.Node) error {
	sig, err := ParseSignal(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = signalName(sig)
	return nil
}

// ParseSignal parses a signal name such as TERM, SIGTERM or a number.
func ParseSignal(s string) (syscall.Signal, error) {
	if i, err := strconv.Atoi(s); err == nil && i > 0 && i < 65 {
		return syscall.Signal(i), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}
