package supervisor_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubelab/kubelab/components/supervisor"
)

// TestStartOrderAndWaitFor: programs spawn in priority order, depends_on
// waits for RUNNING, wait_for for a socket, and the node is ready when
// every autostart program runs.
func TestStartOrderAndWaitFor(t *testing.T) {
	h := newHarness(t)
	sock := filepath.Join(h.dir, "dep.sock")
	d := h.program("d", `echo d >> $DIR/order; exec sleep 60`)
	d.Priority = 1
	d.WaitFor = []supervisor.Condition{{Socket: sock}}
	c := h.program("c", `echo c >> $DIR/order; exec sleep 60`)
	c.Priority, c.DependsOn = 5, []string{"b"}
	a := h.program("a", `echo a >> $DIR/order; exec sleep 60`)
	a.Priority = 10
	b := h.program("b", `echo b >> $DIR/order; exec sleep 60`)
	b.Priority, b.StartSecs = 20, 300*time.Millisecond
	h.start(d, c, a, b)

	h.waitState("c", supervisor.Running, 10*time.Second)
	// a and b are spawned in priority order but their shells race to
	// write, so spawn order is checked on the recorded start times; c
	// waits for b to be RUNNING, so it writes last.
	if sa, sb := h.status("a").Start, h.status("b").Start; sa.IsZero() || sb.Before(sa) {
		t.Fatalf("b (priority 20) spawned at %v, before a (priority 10) at %v", sb, sa)
	}
	if got := h.lines("order"); len(got) != 3 || got[2] != "c" || !slices.Contains(got, "a") || !slices.Contains(got, "b") {
		t.Fatalf("start order %v, want a and b, then c", got)
	}
	if st := h.status("d"); st.State != supervisor.Starting || st.Description != "waiting for socket "+sock || st.PID != 0 {
		t.Fatalf("d should wait for its socket: %+v", st)
	}
	select {
	case <-h.sup.Ready():
		t.Fatal("ready while d waits")
	default:
	}

	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h.waitState("d", supervisor.Running, 10*time.Second)
	if got := h.lines("order"); len(got) != 4 || got[2] != "c" || got[3] != "d" {
		t.Fatalf("start order %v, want a and b, then c, then d", got)
	}
	select {
	case <-h.sup.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready with every program RUNNING")
	}
}

// TestReadyWhenMarkedProgramRuns: the node is ready once the program marked
// ready is RUNNING, which needs its running_when condition.
func TestReadyWhenMarkedProgramRuns(t *testing.T) {
	h := newHarness(t)
	runtime := h.program("runtime", `sleep 0.3; touch $DIR/serving; exec sleep 60`)
	runtime.Ready, runtime.Priority = true, 1
	runtime.RunningWhen = []supervisor.Condition{{File: filepath.Join(h.dir, "serving")}}
	never := h.program("never", `exec sleep 60`)
	never.WaitFor = []supervisor.Condition{{File: "/nonexistent/file"}}
	h.start(runtime, never)
	if got := h.sup.ReadyPrograms(); !slices.Equal(got, []string{"runtime"}) {
		t.Fatalf("ReadyPrograms %v", got)
	}
	serving := filepath.Join(h.dir, "serving")
	h.eventually("runtime spawned and waiting for its file", 5*time.Second, func() error {
		if st := h.status("runtime"); st.State != supervisor.Starting || st.PID == 0 || st.Description != "waiting for file "+serving {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	select {
	case <-h.sup.Ready():
		t.Fatal("ready before the runtime serves")
	default:
	}
	select {
	case <-h.sup.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("not ready: %+v", h.sup.Status())
	}
	if _, err := os.Stat(serving); err != nil || h.status("runtime").State != supervisor.Running {
		t.Fatalf("ready before the runtime served: %v %+v", err, h.status("runtime"))
	}
}

func TestAutoRestart(t *testing.T) {
	tests := []struct {
		name        string
		autorestart supervisor.AutoRestart
		exitCodes   []int
		exit        string
		wantRestart bool
		wantStatus  string
	}{
		{"unexpected restarts on exit 1", supervisor.RestartUnexpected, nil, "1", true, ""},
		{"unexpected restarts on a signal", supervisor.RestartUnexpected, nil, "kill", true, ""},
		{"unexpected leaves exit 0", supervisor.RestartUnexpected, nil, "0", false, "exit status 0"},
		{"unexpected leaves an expected code", supervisor.RestartUnexpected, []int{0, 3}, "3", false, "exit status 3"},
		{"true restarts on exit 0", supervisor.RestartAlways, nil, "0", true, ""},
		{"false leaves exit 1", supervisor.RestartNever, nil, "1", false, "exit status 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			script := `echo run >> $DIR/runs; sleep 0.2; exit ` + tt.exit
			if tt.exit == "kill" {
				script = `echo run >> $DIR/runs; sleep 0.2; kill -KILL $$`
			}
			p := h.program("p", script)
			p.AutoRestart = tt.autorestart
			if tt.exitCodes != nil {
				p.ExitCodes = tt.exitCodes
			}
			h.start(p)
			if tt.wantRestart {
				h.eventually("two restarts", 10*time.Second, func() error {
					if st := h.status("p"); st.Restarts < 2 || len(h.lines("runs")) < 3 {
						return errors.New(st.Description)
					}
					return nil
				})
				return
			}
			st := h.waitState("p", supervisor.Exited, 10*time.Second)
			if !strings.Contains(st.Description, tt.wantStatus) || st.ExitStatus != tt.wantStatus {
				t.Errorf("exited: %+v, want %s", st, tt.wantStatus)
			}
			// A restart would spawn within a poll interval and append a run.
			time.Sleep(300 * time.Millisecond)
			if st := h.status("p"); st.State != supervisor.Exited || st.Restarts != 0 || len(h.lines("runs")) != 1 {
				t.Errorf("restarted: %+v, runs %v", st, h.lines("runs"))
			}
		})
	}
}

// TestStartRetriesFatal: a program that dies before startsecs is retried
// startretries times with a growing backoff, then FATAL.
func TestStartRetriesFatal(t *testing.T) {
	h := newHarness(t)
	p := h.program("flaky", `echo attempt >> $DIR/attempts; date +%s.%N >> $DIR/times; sleep 0.05; exit 1`)
	p.StartSecs, p.StartRetries = 500*time.Millisecond, 2
	missing := h.program("missing", "")
	missing.Command = []string{"/nonexistent/program"}
	missing.StartRetries = 0
	h.start(p, missing)

	st := h.waitState("flaky", supervisor.Fatal, 10*time.Second)
	if st.Description != "Exited too quickly (process log may have details)" || st.ExitStatus != "exit status 1" {
		t.Errorf("fatal status %+v", st)
	}
	if got := h.lines("attempts"); len(got) != 3 {
		t.Errorf("%d attempts, want 3 (1 + startretries 2)", len(got))
	}
	st = h.waitState("missing", supervisor.Fatal, 5*time.Second)
	if !strings.Contains(st.Description, "spawn error") || !strings.Contains(st.Description, "no such file") {
		t.Errorf("spawn error status %+v", st)
	}
	// Starting a FATAL program tries again (and fails again).
	_, err := h.client.Start(t.Context(), "missing", true)
	if !errors.Is(err, supervisor.ErrSpawn) {
		t.Errorf("start missing: %v, want a spawn error", err)
	}
}

// TestBackoffThenRunning: a program that fails its first starts and then
// stays up ends RUNNING with its retries reset.
func TestBackoffThenRunning(t *testing.T) {
	h := newHarness(t)
	p := h.program("p", `echo x >> $DIR/tries; [ $(wc -l < $DIR/tries) -ge 3 ] && exec sleep 60; exit 1`)
	p.StartRetries = 5
	h.start(p)
	st := h.waitState("p", supervisor.Running, 10*time.Second)
	if st.Restarts != 2 || !strings.HasPrefix(st.Description, "pid ") {
		t.Errorf("status %+v", st)
	}
}
