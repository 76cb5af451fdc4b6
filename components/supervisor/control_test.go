package supervisor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubelab/kubelab/components/supervisor"
)

// TestControl drives a program through the control socket as
// supervisorctl would: status, stop, start, restart and their errors.
func TestControl(t *testing.T) {
	h := newHarness(t)
	waiter := h.program("waiter", `exec sleep 60`)
	waiter.WaitFor = []supervisor.Condition{{File: "/nonexistent"}}
	h.start(h.program("web", `echo "hello from web $$"; exec sleep 60`), waiter)
	first := h.waitState("web", supervisor.Running, 5*time.Second)
	ctx := t.Context()

	all, err := h.client.Status(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "web" || all[0].State != supervisor.Running || all[0].PID != first.PID {
		t.Fatalf("status %+v, %v", all, err)
	}
	if !strings.HasPrefix(all[0].Description, fmt.Sprintf("pid %d, uptime 0:00:0", first.PID)) {
		t.Errorf("description %q", all[0].Description)
	}

	st, err := h.client.Stop(ctx, "web")
	if err != nil || st.State != supervisor.Stopped || st.PID != 0 {
		t.Fatalf("stop: %+v, %v", st, err)
	}
	if err := syscall.Kill(first.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still exists after stop: %v", first.PID, err)
	}
	if _, err := h.client.Stop(ctx, "web"); !errors.Is(err, supervisor.ErrNotRunning) {
		t.Errorf("second stop: %v, want ErrNotRunning", err)
	}

	st, err = h.client.Start(ctx, "web", true)
	if err != nil || st.State != supervisor.Running || st.PID == 0 || st.PID == first.PID {
		t.Fatalf("start: %+v, %v", st, err)
	}
	if _, err := h.client.Start(ctx, "web", true); !errors.Is(err, supervisor.ErrAlreadyStarted) || err.Error() != "web: already started" {
		t.Errorf("second start: %v, want ErrAlreadyStarted", err)
	}
	second := st.PID
	st, err = h.client.Restart(ctx, "web", true)
	if err != nil || st.State != supervisor.Running || st.PID == second {
		t.Fatalf("restart: %+v, %v", st, err)
	}
	for _, f := range []func() error{
		func() error { _, err := h.client.Start(ctx, "nope", true); return err },
		func() error { _, err := h.client.Stop(ctx, "nope"); return err },
		func() error { return h.client.Tail(ctx, "nope", 100, false, io.Discard) },
	} {
		if err := f(); !errors.Is(err, supervisor.ErrNoSuchProgram) {
			t.Errorf("unknown program: %v, want ErrNoSuchProgram", err)
		}
	}

	// A program waiting to start stops at once and can wait again.
	if st, err := h.client.Stop(ctx, "waiter"); err != nil || st.State != supervisor.Stopped {
		t.Errorf("stop waiter: %+v, %v", st, err)
	}
	if st, err := h.client.Start(ctx, "waiter", false); err != nil || st.State != supervisor.Starting || st.Description != "waiting for file /nonexistent" {
		t.Errorf("start waiter without waiting: %+v, %v", st, err)
	}

	var out bytes.Buffer
	if err := h.client.Tail(ctx, "web", 1600, false, &out); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{first.PID, second, st.PID} {
		if want := fmt.Sprintf("hello from web %d\n", pid); !strings.Contains(out.String(), want) {
			t.Errorf("tail %q lacks %q", out.String(), want)
		}
	}
	out.Reset()
	if err := h.client.Tail(ctx, "web", 5, false, &out); err != nil || out.Len() != 5 {
		t.Errorf("tail of 5 bytes: %q, %v", out.String(), err)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTailFollow follows a program's log across a rotation.
func TestTailFollow(t *testing.T) {
	h := newHarness(t)
	p := h.program("ticker", `i=0; while [ $i -lt 400 ]; do echo "tick $i"; i=$((i+1)); sleep 0.01; done; exec sleep 60`)
	p.LogFileMaxBytes, p.LogFileBackups = 500, 2
	h.start(p)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- h.client.Tail(ctx, "ticker", 1, true, &out) }()
	h.eventually("follow sees 150 ticks", 30*time.Second, func() error {
		if !strings.Contains(out.String(), "tick 150\n") {
			return fmt.Errorf("last output %q", lastLine(out.String()))
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Ticks arrive in order without gaps, though the log rotated (each
	// tick line is about 8 bytes: 150 of them are more than 2 x 500).
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	first := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "tick ") })
	var n int
	if _, err := fmt.Sscanf(lines[first], "tick %d", &n); err != nil {
		t.Fatal(err)
	}
	for i, l := range lines[first:] {
		if want := fmt.Sprintf("tick %d", n+i); l != want {
			t.Fatalf("line %d is %q, want %q", first+i, l, want)
		}
	}
	for _, f := range []string{"ticker.log.1", "ticker.log.2"} {
		if _, err := os.Stat(filepath.Join(h.dir, f)); err != nil {
			t.Errorf("log did not rotate: %v", err)
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}

// TestStopSignalAndKill: stopsignal is what the program gets; one that
// ignores it is killed (with its group) after stopwaitsecs.
func TestStopSignalAndKill(t *testing.T) {
	h := newHarness(t)
	polite := h.program("polite", `trap 'echo got INT >> $DIR/polite; exit 0' INT; while :; do sleep 0.05; done`)
	polite.StopSignal = syscall.SIGINT
	stubborn := h.program("stubborn", `trap '' TERM; sleep 60 & echo $! > $DIR/child; wait`)
	stubborn.StopWait, stubborn.KillAsGroup = 300*time.Millisecond, true
	h.start(polite, stubborn)
	h.waitState("polite", supervisor.Running, 5*time.Second)
	h.waitState("stubborn", supervisor.Running, 5*time.Second)
	h.eventually("stubborn started its child", 5*time.Second, func() error {
		if h.read("child") == "" {
			return errors.New("no child pid yet")
		}
		return nil
	})

	if _, err := h.client.Stop(t.Context(), "polite"); err != nil {
		t.Fatal(err)
	}
	if got := h.read("polite"); got != "got INT\n" {
		t.Errorf("polite got %q, want INT", got)
	}
	if st := h.status("polite"); st.ExitStatus != "exit status 0" {
		t.Errorf("polite: %+v", st)
	}

	began := time.Now()
	if _, err := h.client.Stop(t.Context(), "stubborn"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 300*time.Millisecond {
		t.Errorf("stubborn stopped after %s, before stopwaitsecs", took)
	}
	if st := h.status("stubborn"); st.ExitStatus != "signal: killed" {
		t.Errorf("stubborn: %+v", st)
	}
	var child int
	if _, err := fmt.Sscan(h.read("child"), &child); err != nil {
		t.Fatal(err)
	}
	h.eventually("the group's sleep is gone", 5*time.Second, func() error {
		if err := syscall.Kill(child, 0); !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("pid %d: %v", child, err)
		}
		return nil
	})
}

// TestShutdownStopsInReversePriority: ending Run stops every program,
// highest priority first, and returns once they are gone.
func TestShutdownStopsInReversePriority(t *testing.T) {
	h := newHarness(t)
	var progs []supervisor.Program
	for i, name := range []string{"runtime", "agent", "proxy"} {
		p := h.program(name, `trap 'sleep 0.1; echo `+name+` >> $DIR/stops; exit 0' TERM; while :; do sleep 0.05; done`)
		p.Priority = 10 * (i + 1)
		progs = append(progs, p)
	}
	h.start(progs...)
	var pids []int
	for _, p := range progs {
		pids = append(pids, h.waitState(p.Name, supervisor.Running, 5*time.Second).PID)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got := h.lines("stops"); !slices.Equal(got, []string{"proxy", "agent", "runtime"}) {
		t.Errorf("stop order %v, want [proxy agent runtime]", got)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("pid %d survived shutdown: %v", pid, err)
		}
	}
	if _, err := os.Stat(h.socket); !os.IsNotExist(err) {
		t.Errorf("control socket left behind: %v", err)
	}
}

// TestReapsOrphans: a program that double-forks leaves an orphan, which is
// re-parented to the supervisor (a child subreaper here, PID 1 on a node)
// and reaped when it exits instead of staying a zombie.
func TestReapsOrphans(t *testing.T) {
	h := newHarness(t)
	p := h.program("forker", `sleep 0.3 & echo $! > $DIR/orphan; exit 0`)
	p.StartSecs, p.AutoRestart = 0, supervisor.RestartNever
	h.start(p)
	before := h.sup.ReapedOrphans()
	h.waitState("forker", supervisor.Exited, 5*time.Second)
	var orphan int
	if _, err := fmt.Sscan(h.read("orphan"), &orphan); err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", orphan))
	if err == nil {
		fields := strings.Fields(string(stat)[strings.LastIndex(string(stat), ")")+2:])
		if ppid := fields[1]; ppid != fmt.Sprint(os.Getpid()) {
			t.Fatalf("orphan %d has parent %s, not the supervisor %d", orphan, ppid, os.Getpid())
		}
	}
	h.eventually("orphan reaped (no zombie left)", 5*time.Second, func() error {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", orphan)); err == nil {
			return fmt.Errorf("orphan still there: %s", b)
		}
		return nil
	})
	if got := h.sup.ReapedOrphans(); got <= before {
		t.Errorf("ReapedOrphans %d, was %d", got, before)
	}
}
