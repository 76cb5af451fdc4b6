package supervisor

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// State is a program's state, as supervisord names them.
type State string

// The program states.
const (
	// Stopped: not running and not started (or stopped on request).
	Stopped State = "STOPPED"
	// Starting: waiting for its conditions, or started and not yet up for
	// startsecs (and its running_when conditions).
	Starting State = "STARTING"
	// Running: up.
	Running State = "RUNNING"
	// Backoff: a start failed; it is retried after a delay.
	Backoff State = "BACKOFF"
	// Stopping: asked to stop, waiting for it to exit.
	Stopping State = "STOPPING"
	// Exited: exited from RUNNING and not restarted.
	Exited State = "EXITED"
	// Fatal: it could not be started after startretries attempts.
	Fatal State = "FATAL"
)

// stopped reports whether s is a state with no process and no pending start.
func (s State) stopped() bool { return s == Stopped || s == Exited || s == Fatal }

// Errors of the control operations, as supervisorctl reports them.
var (
	// ErrNoSuchProgram: the name is not in the config.
	ErrNoSuchProgram = errors.New("no such process")
	// ErrAlreadyStarted: start of a program that is STARTING, RUNNING or BACKOFF.
	ErrAlreadyStarted = errors.New("already started")
	// ErrNotRunning: stop of a program that is not running.
	ErrNotRunning = errors.New("not running")
	// ErrStopping: start of a program that is still stopping.
	ErrStopping = errors.New("still stopping")
	// ErrSpawn: the program went FATAL while starting.
	ErrSpawn = errors.New("spawn error")
	// ErrAbnormalTermination: it exited while starting and was not restarted.
	ErrAbnormalTermination = errors.New("abnormal termination")
)

// ProgramStatus is a snapshot of one program, like supervisorctl's status.
type ProgramStatus struct {
	// Name and State identify the program and its state.
	Name  string `json:"name"`
	State State  `json:"state"`
	// PID is its process ID while it has a process.
	PID int `json:"pid,omitempty"`
	// Start is when the current or last process started.
	Start time.Time `json:"start,omitzero"`
	// Stop is when the last process exited.
	Stop time.Time `json:"stop,omitzero"`
	// ExitStatus describes how the last process ended ("exit status 1",
	// "signal: killed").
	ExitStatus string `json:"exitStatus,omitempty"`
	// Restarts counts the starts after the first.
	Restarts int `json:"restarts"`
	// Description is supervisorctl's description column.
	Description string `json:"description"`
}

// Uptime is how long the process has been up, relative to now.
func (s ProgramStatus) Uptime(now time.Time) time.Duration {
	if s.PID == 0 || s.Start.IsZero() {
		return 0
	}
	return now.Sub(s.Start)
}

// describe fills Description as supervisord does.
func (s *ProgramStatus) describe(now time.Time, waiting, spawnErr string) {
	switch s.State {
	case Running, Stopping:
		s.Description = fmt.Sprintf("pid %d, uptime %s", s.PID, FormatUptime(s.Uptime(now)))
	case Starting:
		s.Description = waiting
	case Backoff, Fatal:
		s.Description = "Exited too quickly (process log may have details)"
		if spawnErr != "" {
			s.Description = spawnErr
		}
	case Exited:
		s.Description = s.Stop.Format("Jan 02 03:04 PM") + ", " + s.ExitStatus
	case Stopped:
		if s.Stop.IsZero() {
			s.Description = "Not started"
		} else {
			s.Description = s.Stop.Format("Jan 02 03:04 PM")
		}
	}
}

// FormatUptime formats d as supervisorctl does: H:MM:SS, with days first.
func FormatUptime(d time.Duration) string {
	secs := int64(d / time.Second)
	days, h, m, s := secs/86400, secs/3600%24, secs/60%60, secs%60
	if days > 0 {
		return fmt.Sprintf("%d days, %d:%02d:%02d", days, h, m, s)
	}
	return fmt.Sprintf("%d:%02d:%02d", h, m, s)
}

// describeExit formats a wait status as os/exec does.
func describeExit(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return "signal: " + ws.Signal().String()
	default:
		return fmt.Sprintf("wait status %#x", uint32(ws))
	}
}

// expected reports whether ws is an exit with one of the expected codes.
func expected(ws unix.WaitStatus, codes []int) bool {
	return ws.Exited() && slices.Contains(codes, ws.ExitStatus())
}
