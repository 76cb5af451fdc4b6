package supervisor

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// reaper collects the exit status of every child of this process: the
// programs it started, whose status goes to whoever started them, and any
// orphan re-parented to it (as PID 1 or a child subreaper), which it just
// reaps so no zombie stays behind. There is one per process, since
// wait4(-1) takes any child: while it runs, nothing else in the process
// may wait for children (os/exec's Wait would fail with ECHILD).
type reaper struct {
	// mu is held while a child is started and registered and while one is
	// reaped, so a child cannot be reaped before it is registered.
	mu      sync.Mutex
	waiting map[int]chan<- unix.WaitStatus
	orphans atomic.Int64
}

var processReaper = sync.OnceValue(func() *reaper {
	r := &reaper{waiting: map[int]chan<- unix.WaitStatus{}}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	go r.loop(sigs)
	return r
})

// BecomeSubreaper makes this process the child subreaper of its
// descendants (prctl PR_SET_CHILD_SUBREAPER), so orphans are re-parented
// to it and reaped by the supervisor. PID 1 needs no such call.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl PR_SET_CHILD_SUBREAPER", err)
	}
	return nil
}

// start runs spawn with the lock held and registers the new child's
// exit channel (buffered).
func (r *reaper) start(spawn func() (*os.Process, error)) (*os.Process, <-chan unix.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := spawn()
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan unix.WaitStatus, 1)
	r.waiting[p.Pid] = ch
	return p, ch, nil
}

func (r *reaper) loop(sigs <-chan os.Signal) {
	// SIGCHLD signals coalesce; each wake-up reaps until none is left, and
	// the ticker is a safety net should a signal ever be missed.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-sigs:
		case <-tick.C:
		}
		r.reapAll()
	}
}

func (r *reaper) reapAll() {
	for {
		var ws unix.WaitStatus
		r.mu.Lock()
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			r.mu.Unlock()
			continue
		}
		if err != nil || pid <= 0 {
			r.mu.Unlock()
			return
		}
		ch, ours := r.waiting[pid]
		delete(r.waiting, pid)
		r.mu.Unlock()
		if ours {
			ch <- ws
			continue
		}
		r.orphans.Add(1)
		slog.Debug("reaped orphan", "pid", pid, "status", describeExit(ws))
	}
}
