package supervisor_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubelab/kubelab/components/supervisor"
)

// lockedBuffer collects the supervisor's log for failed tests.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// harness is a supervisor running in the test process, a child subreaper,
// with its socket and logs in temp dirs.
type harness struct {
	t      *testing.T
	sup    *supervisor.Supervisor
	client *supervisor.Client
	dir    string // logs and the programs' scratch files
	socket string
	cancel context.CancelFunc
	done   chan error
}

// program returns a program running `sh -c script` with fast test timings;
// $DIR in the script is the harness's directory.
func (h *harness) program(name, script string) supervisor.Program {
	p := supervisor.NewProgram(name, h.dir, "sh", "-c", script)
	p.Environment = map[string]string{"DIR": h.dir}
	p.StartSecs = 100 * time.Millisecond
	p.StopWait = 2 * time.Second
	return p
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	// A short socket path: unix socket paths are limited to 108 bytes.
	sockDir, err := os.MkdirTemp("", "sv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	socket := filepath.Join(sockDir, "s.sock")
	return &harness{t: t, dir: t.TempDir(), socket: socket, done: make(chan error, 1), client: supervisor.NewClient(socket)}
}

// start runs a supervisor of programs until the test ends.
func (h *harness) start(programs ...supervisor.Program) *harness {
	t := h.t
	t.Helper()
	cfg := &supervisor.Config{Socket: h.socket, LogDir: h.dir, Programs: programs}
	logs := &lockedBuffer{}
	sup, err := supervisor.New(cfg, supervisor.Options{
		Log:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Subreaper:   true,
		BackoffUnit: 50 * time.Millisecond, PollInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.sup = sup
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("supervisor log:\n%s", logs)
		}
	})
	h.eventually("control socket answers", 10*time.Second, func() error {
		_, err := h.client.Status(t.Context())
		return err
	})
	return h
}

// stop cancels the supervisor and waits for Run to return.
func (h *harness) stop() error {
	if h.cancel == nil {
		return nil
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
		return err
	case <-time.After(30 * time.Second):
		h.t.Fatal("supervisor did not stop within 30s")
		return nil
	}
}

// eventually polls f until it returns nil or the deadline passes.
func (h *harness) eventually(what string, timeout time.Duration, f func() error) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// status returns one program's status.
func (h *harness) status(name string) supervisor.ProgramStatus {
	h.t.Helper()
	for _, s := range h.sup.Status() {
		if s.Name == name {
			return s
		}
	}
	h.t.Fatalf("no program %s", name)
	return supervisor.ProgramStatus{}
}

// waitState waits until a program is in state and returns its status.
func (h *harness) waitState(name string, state supervisor.State, timeout time.Duration) supervisor.ProgramStatus {
	h.t.Helper()
	var st supervisor.ProgramStatus
	h.eventually(fmt.Sprintf("%s %s", name, state), timeout, func() error {
		if st = h.status(name); st.State != state {
			return fmt.Errorf("%s is %s (%s)", name, st.State, st.Description)
		}
		return nil
	})
	return st
}

// read returns a file of the harness directory ("" if missing).
func (h *harness) read(name string) string {
	b, _ := os.ReadFile(filepath.Join(h.dir, name))
	return string(b)
}

// lines returns the non-empty lines of a file of the harness directory.
func (h *harness) lines(name string) []string {
	return strings.Fields(h.read(name))
}
