package supervisor

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type op int

const (
	opStart op = iota
	opStop
)

// request asks a program's loop to start or stop it; reply is buffered.
// A start is answered once the program is STARTING (spawned, if nothing
// holds it back); a stop once it is STOPPED.
type request struct {
	op    op
	reply chan error
}

// program is one supervised program. Its loop goroutine owns the process
// and the state machine; mu guards the snapshot that Status reads.
type program struct {
	cfg  Program
	sup  *Supervisor
	log  *LogFile
	reqs chan request

	mu       sync.Mutex
	st       ProgramStatus
	waiting  string // what a STARTING program waits for
	spawnErr string // why the last spawn failed
	spawns   int

	// Owned by the loop.
	proc        *os.Process
	exit        <-chan unix.WaitStatus
	spawnedAt   time.Time
	retries     int
	timer       *time.Timer
	stopWaiters []chan error
	killSent    bool
}

func newProgram(cfg Program, sup *Supervisor, log *LogFile) *program {
	p := &program{cfg: cfg, sup: sup, log: log, reqs: make(chan request)}
	p.st = ProgramStatus{Name: cfg.Name, State: Stopped}
	p.timer = time.NewTimer(time.Hour)
	p.timer.Stop()
	return p
}

// do sends a request to the loop and waits for its answer.
func (p *program) do(ctx context.Context, o op) error {
	req := request{op: o, reply: make(chan error, 1)}
	select {
	case p.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// status returns the program's snapshot.
func (p *program) status(now time.Time) ProgramStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st
	s.describe(now, p.waiting, p.spawnErr)
	return s
}

func (p *program) state() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st.State
}

// update changes the snapshot and tells the supervisor.
func (p *program) update(f func(s *ProgramStatus)) {
	p.mu.Lock()
	old := p.st.State
	f(&p.st)
	now := p.st.State
	p.mu.Unlock()
	if old != now {
		p.sup.log.Info("program state", "program", p.cfg.Name, "from", string(old), "to", string(now))
	}
	p.sup.changed()
}

func (p *program) setState(s State) { p.update(func(st *ProgramStatus) { st.State = s }) }

func (p *program) setWaiting(what string) {
	p.mu.Lock()
	changed := p.waiting != what
	p.waiting = what
	p.mu.Unlock()
	if changed && what != "" {
		p.sup.log.Info("program waiting", "program", p.cfg.Name, "for", what)
	}
}

// loop runs the state machine until ctx ends.
func (p *program) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			p.abandon()
			return
		case req := <-p.reqs:
			p.handle(req)
		case ws := <-p.exit:
			p.exited(ws)
		case <-p.timer.C:
			p.tick()
		}
	}
}

func (p *program) handle(req request) {
	switch st := p.state(); req.op {
	case opStart:
		switch st {
		case Starting, Running, Backoff:
			req.reply <- ErrAlreadyStarted
			return
		case Stopping:
			req.reply <- ErrStopping
			return
		}
		p.retries = 0
		p.mu.Lock()
		p.spawnErr = ""
		p.mu.Unlock()
		p.setState(Starting)
		p.tryStart()
		req.reply <- nil
	case opStop:
		switch {
		case st.stopped():
			req.reply <- ErrNotRunning
		case p.proc == nil: // BACKOFF, or STARTING and still waiting
			p.timer.Stop()
			p.setWaiting("")
			p.update(func(s *ProgramStatus) { s.State, s.Stop = Stopped, time.Now() })
			req.reply <- nil
		default:
			p.stopWaiters = append(p.stopWaiters, req.reply)
			if st != Stopping {
				p.sendStop()
			}
		}
	}
}

// tryStart spawns a STARTING program once its dependencies are RUNNING
// and its wait_for conditions hold, polling until they do.
func (p *program) tryStart() {
	for _, d := range p.cfg.DependsOn {
		if p.sup.byName[d].state() != Running {
			p.setWaiting("waiting for program " + d)
			p.timer.Reset(p.sup.opts.PollInterval)
			return
		}
	}
	if c, unmet := firstUnmet(p.cfg.WaitFor); unmet {
		p.setWaiting("waiting for " + c.String())
		p.timer.Reset(p.sup.opts.PollInterval)
		return
	}
	p.setWaiting("")
	proc, exit, err := p.spawn()
	if err != nil {
		p.sup.log.Error("program spawn failed", "program", p.cfg.Name, "err", err)
		p.mu.Lock()
		p.spawnErr = "spawn error: " + err.Error()
		p.mu.Unlock()
		p.failedStart()
		return
	}
	p.proc, p.exit, p.spawnedAt = proc, exit, time.Now()
	p.mu.Lock()
	p.spawnErr = ""
	p.spawns++
	restarts := p.spawns - 1
	p.mu.Unlock()
	p.update(func(s *ProgramStatus) { s.PID, s.Start, s.Restarts = proc.Pid, p.spawnedAt, restarts })
	p.sup.log.Info("program spawned", "program", p.cfg.Name, "pid", proc.Pid)
	p.checkUp()
}

// checkUp makes a spawned STARTING program RUNNING once it has been up
// startsecs and its running_when conditions hold.
func (p *program) checkUp() {
	if left := p.cfg.StartSecs - time.Since(p.spawnedAt); left > 0 {
		p.timer.Reset(left)
		return
	}
	if c, unmet := firstUnmet(p.cfg.RunningWhen); unmet {
		p.setWaiting("waiting for " + c.String())
		p.timer.Reset(p.sup.opts.PollInterval)
		return
	}
	p.setWaiting("")
	p.retries = 0
	p.setState(Running)
}

// failedStart counts a failed start: BACKOFF and a later retry, or FATAL
// after startretries.
func (p *program) failedStart() {
	p.retries++
	if p.retries > p.cfg.StartRetries {
		p.sup.log.Error("program gave up: it exited too quickly too often", "program", p.cfg.Name, "attempts", p.retries)
		p.setState(Fatal)
		return
	}
	p.setState(Backoff)
	p.timer.Reset(time.Duration(p.retries) * p.sup.opts.BackoffUnit)
}

func (p *program) tick() {
	switch p.state() {
	case Starting:
		if p.proc == nil {
			p.tryStart()
		} else {
			p.checkUp()
		}
	case Backoff:
		p.setState(Starting)
		p.tryStart()
	case Stopping:
		if !p.killSent {
			p.sup.log.Warn("program did not stop in time; killing it", "program", p.cfg.Name, "stopwaitsecs", p.cfg.StopWait)
			p.killSent = true
			p.signal(syscall.SIGKILL, p.cfg.KillAsGroup)
		}
	}
}

// sendStop sends the stop signal and arms the SIGKILL deadline.
func (p *program) sendStop() {
	p.setWaiting("")
	p.setState(Stopping)
	p.killSent = false
	p.signal(p.cfg.StopSignal, p.cfg.StopAsGroup)
	p.timer.Reset(p.cfg.StopWait)
}

func (p *program) signal(sig syscall.Signal, group bool) {
	if p.proc == nil {
		return
	}
	var err error
	if group {
		err = unix.Kill(-p.proc.Pid, sig)
	} else {
		err = p.proc.Signal(sig)
	}
	if err != nil && !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, unix.ESRCH) {
		p.sup.log.Warn("signal program", "program", p.cfg.Name, "signal", sig.String(), "err", err)
	}
}

// exited handles the end of the program's process.
func (p *program) exited(ws unix.WaitStatus) {
	p.timer.Stop()
	_ = p.proc.Release()
	p.proc, p.exit = nil, nil
	now := time.Now()
	p.update(func(s *ProgramStatus) { s.PID, s.Stop, s.ExitStatus = 0, now, describeExit(ws) })
	st := p.state()
	p.sup.log.Info("program exited", "program", p.cfg.Name, "status", describeExit(ws), "state", string(st))
	switch st {
	case Stopping:
		p.setState(Stopped)
		for _, w := range p.stopWaiters {
			w <- nil
		}
		p.stopWaiters = nil
	case Starting:
		p.setWaiting("")
		p.failedStart()
	case Running:
		restart := p.cfg.AutoRestart == RestartAlways ||
			p.cfg.AutoRestart == RestartUnexpected && !expected(ws, p.cfg.ExitCodes)
		p.setState(Exited)
		if restart {
			p.retries = 0
			p.setState(Starting)
			p.tryStart()
		}
	}
}

// abandon kills a process left behind when the loop ends.
func (p *program) abandon() {
	p.timer.Stop()
	if p.proc != nil {
		p.signal(syscall.SIGKILL, p.cfg.KillAsGroup)
	}
	for _, w := range p.stopWaiters {
		w <- context.Canceled
	}
}
