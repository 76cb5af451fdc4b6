package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kubelab/kubelab/components/supervisor/nodeprep"
)

// Default locations and limits, as supervisord's where it has one.
const (
	// DefaultConfigPath is where a node keeps its supervisor config.
	DefaultConfigPath = "/etc/kubelab/supervisor.yaml"
	// DefaultSocket is the control socket `node-supervisor ctl` talks to.
	DefaultSocket = "/run/kubelab/supervisor.sock"
	// DefaultLogDir holds each program's log, <name>.log.
	DefaultLogDir = "/var/log"
	// DefaultPriority, DefaultStartSecs, DefaultStartRetries and
	// DefaultStopWaitSecs are supervisord's defaults.
	DefaultPriority     = 999
	DefaultStartSecs    = time.Second
	DefaultStartRetries = 3
	DefaultStopWaitSecs = 10 * time.Second
	// DefaultLogMaxBytes and DefaultLogBackups bound each program's log.
	DefaultLogMaxBytes = 50 << 20
	DefaultLogBackups  = 10
)

// Config is the supervisor's configuration (see ParseConfig for the file).
type Config struct {
	// Socket is the control socket path.
	Socket string
	// LogDir is the directory of program logs without an explicit LogFile.
	LogDir string
	// Node configures node preparation.
	Node nodeprep.Config
	// Programs are the supervised programs.
	Programs []Program
}

// Program is one supervised program, after supervisord's [program:x].
type Program struct {
	// Name identifies the program (letters, digits, '-', '_', '.').
	Name string
	// Command is the argv; Command[0] is looked up in PATH when it has no '/'.
	Command []string
	// Environment is added to the supervisor's own environment.
	Environment map[string]string
	// Directory is the working directory (default: the supervisor's).
	Directory string
	// Priority orders start-up (low first) and shutdown (high first).
	Priority int
	// AutoStart starts the program with the supervisor.
	AutoStart bool
	// AutoRestart says when an exit of a RUNNING program restarts it.
	AutoRestart AutoRestart
	// StartSecs is how long the program must stay up to count as started;
	// an earlier exit is a failed start.
	StartSecs time.Duration
	// StartRetries is how many failed starts in a row are retried, with a
	// backoff of 1, 2, 3... BackoffUnits, before the program is FATAL.
	StartRetries int
	// ExitCodes are the expected exit codes (for AutoRestart unexpected).
	ExitCodes []int
	// StopSignal is sent to stop the program.
	StopSignal syscall.Signal
	// StopWait is how long after StopSignal the program gets SIGKILL.
	StopWait time.Duration
	// StopAsGroup and KillAsGroup send the stop signal and SIGKILL to the
	// program's whole process group (each program leads its own).
	StopAsGroup, KillAsGroup bool
	// DependsOn names programs that must be RUNNING before this one starts.
	DependsOn []string
	// WaitFor are conditions that must hold before each start.
	WaitFor []Condition
	// RunningWhen are conditions that must hold, besides StartSecs having
	// passed, for the program to count as RUNNING (e.g. a socket it serves).
	RunningWhen []Condition
	// Ready marks a program whose RUNNING state makes the node ready; with
	// no program marked, the node is ready when every autostart program is.
	Ready bool
	// LogFile receives the program's stdout and stderr.
	LogFile string
	// LogFileMaxBytes rotates the log at this size (0: never).
	LogFileMaxBytes int64
	// LogFileBackups is how many rotated logs are kept.
	LogFileBackups int
}

// Condition is one thing a program waits for; exactly one field is set.
type Condition struct {
	// Socket is a unix socket path that accepts connections.
	Socket string `yaml:"socket"`
	// File is a path that exists.
	File string `yaml:"file"`
	// TCP is a host:port that accepts connections.
	TCP string `yaml:"tcp"`
}

// String describes the condition, as in "socket /run/x.sock".
func (c Condition) String() string {
	switch {
	case c.Socket != "":
		return "socket " + c.Socket
	case c.File != "":
		return "file " + c.File
	default:
		return "tcp " + c.TCP
	}
}

// NewProgram returns a program with supervisord's defaults and the log
// file <logDir>/<name>.log.
func NewProgram(name, logDir string, command ...string) Program {
	return Program{
		Name:            name,
		Command:         command,
		Priority:        DefaultPriority,
		AutoStart:       true,
		AutoRestart:     RestartUnexpected,
		StartSecs:       DefaultStartSecs,
		StartRetries:    DefaultStartRetries,
		ExitCodes:       []int{0},
		StopSignal:      syscall.SIGTERM,
		StopWait:        DefaultStopWaitSecs,
		LogFile:         filepath.Join(logDir, name+".log"),
		LogFileMaxBytes: DefaultLogMaxBytes,
		LogFileBackups:  DefaultLogBackups,
	}
}

// LoadConfig reads, defaults and validates the config file at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read supervisor config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
