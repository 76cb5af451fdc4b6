// Package supervisor is kubelab's node supervisor, PID 1 of every node
// container, in the spirit of supervisord: it starts the node's programs
// (containerd, the kubelet, ...) in priority order once their dependencies
// are up, restarts them with supervisord's startsecs/startretries/
// autorestart semantics, keeps each one's log, reaps every zombie, stops
// them in reverse order on shutdown, and answers `node-supervisor ctl`
// over a unix socket. Node preparation is in the nodeprep package.
package supervisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Options tune a Supervisor beyond its Config.
type Options struct {
	// Log is the supervisor's logger (default slog.Default()).
	Log *slog.Logger
	// Subreaper makes the process a child subreaper, so orphaned
	// descendants are re-parented to it and reaped; PID 1 needs none.
	Subreaper bool
	// BackoffUnit is the delay before the first retry of a failed start;
	// the n-th retry waits n units, as supervisord does (default 1s).
	BackoffUnit time.Duration
	// PollInterval is how often unmet conditions are checked (default 100ms).
	PollInterval time.Duration
	// ShutdownGrace is how long, beyond a program's stopwaitsecs, shutdown
	// waits for it after SIGKILL (default 5s).
	ShutdownGrace time.Duration
}

// Supervisor runs a Config's programs.
type Supervisor struct {
	cfg      *Config
	opts     Options
	log      *slog.Logger
	reaper   *reaper
	programs []*program // config order
	byName   map[string]*program

	mu      sync.Mutex
	changes chan struct{} // closed and replaced on every change
	ready   chan struct{}
	running bool
}

// New validates cfg and opens every program's log.
func New(cfg *Config, opts Options) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid supervisor config: %w", err)
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	opts.BackoffUnit = cmp.Or(opts.BackoffUnit, time.Second)
	opts.PollInterval = cmp.Or(opts.PollInterval, 100*time.Millisecond)
	opts.ShutdownGrace = cmp.Or(opts.ShutdownGrace, 5*time.Second)
	s := &Supervisor{cfg: cfg, opts: opts, log: opts.Log, byName: map[string]*program{},
		changes: make(chan struct{}), ready: make(chan struct{})}
	for _, pc := range cfg.Programs {
		lf, err := OpenLogFile(pc.LogFile, pc.LogFileMaxBytes, pc.LogFileBackups)
		if err != nil {
			s.closeLogs()
			return nil, fmt.Errorf("program %s: %w", pc.Name, err)
		}
		p := newProgram(pc, s, lf)
		s.programs = append(s.programs, p)
		s.byName[pc.Name] = p
	}
	return s, nil
}

// Ready is closed once the node is ready: every program marked ready (or,
// with none marked, every autostart program) is RUNNING, or EXITED after
// having run.
func (s *Supervisor) Ready() <-chan struct{} { return s.ready }

// ReadyPrograms names the programs Ready waits for.
func (s *Supervisor) ReadyPrograms() []string {
	var marked, auto []string
	for _, p := range s.programs {
		if p.cfg.Ready {
			marked = append(marked, p.cfg.Name)
		}
		if p.cfg.AutoStart {
			auto = append(auto, p.cfg.Name)
		}
	}
	if len(marked) > 0 {
		return marked
	}
	return auto
}

// ReapedOrphans counts the processes reaped that were not the programs
// themselves (orphans re-parented to this process).
func (s *Supervisor) ReapedOrphans() int64 { return processReaper().orphans.Load() }

// Run starts the reaper, the control socket and the autostart programs in
// priority order, and supervises them until ctx ends; it then stops every
// program in reverse priority order (each group waiting for the previous
// to stop) and returns nil. A Supervisor runs once.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("supervisor already ran")
	}
	s.running = true
	s.mu.Unlock()
	defer s.closeLogs()

	if s.opts.Subreaper {
		if err := BecomeSubreaper(); err != nil {
			return err
		}
	}
	s.reaper = processReaper()
	srv, err := s.serveControl(s.cfg.Socket)
	if err != nil {
		return err
	}

	loops, stopLoops := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range s.programs {
		wg.Go(func() { p.loop(loops) })
	}
	s.log.Info("supervisor started", "programs", len(s.programs), "socket", s.cfg.Socket)
	s.checkReady()
	for _, p := range s.byPriority() {
		if !p.cfg.AutoStart || ctx.Err() != nil {
			continue
		}
		if err := p.do(ctx, opStart); err != nil && ctx.Err() == nil {
			s.log.Error("start program", "program", p.cfg.Name, "err", err)
		}
	}

	<-ctx.Done()
	s.log.Info("supervisor shutting down: stopping programs in reverse priority order")
	s.stopAll()
	srv.close()
	stopLoops()
	wg.Wait()
	s.log.Info("supervisor stopped")
	return nil
}

// byPriority orders programs by priority, then config order.
func (s *Supervisor) byPriority() []*program {
	ps := slices.Clone(s.programs)
	slices.SortStableFunc(ps, func(a, b *program) int { return cmp.Compare(a.cfg.Priority, b.cfg.Priority) })
	return ps
}

// stopAll stops the programs group by group, highest priority first.
func (s *Supervisor) stopAll() {
	ps := s.byPriority()
	slices.Reverse(ps)
	for len(ps) > 0 {
		n := 1
		for n < len(ps) && ps[n].cfg.Priority == ps[0].cfg.Priority {
			n++
		}
		var wg sync.WaitGroup
		for _, p := range ps[:n] {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StopWait+s.opts.ShutdownGrace)
				defer cancel()
				if err := p.do(ctx, opStop); err != nil && !errors.Is(err, ErrNotRunning) {
					s.log.Error("stop program", "program", p.cfg.Name, "err", err)
				}
			})
		}
		wg.Wait()
		ps = ps[n:]
	}
}

func (s *Supervisor) closeLogs() {
	for _, p := range s.programs {
		_ = p.log.Close()
	}
}

// changed wakes everyone waiting for a change and rechecks readiness.
func (s *Supervisor) changed() {
	s.mu.Lock()
	close(s.changes)
	s.changes = make(chan struct{})
	s.mu.Unlock()
	s.checkReady()
}

// changesChan is closed at the next change.
func (s *Supervisor) changesChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changes
}

func (s *Supervisor) checkReady() {
	select {
	case <-s.ready:
		return
	default:
	}
	names := s.ReadyPrograms()
	for _, n := range names {
		if st := s.byName[n].state(); st != Running && st != Exited {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.ready:
	default:
		close(s.ready)
		s.log.Info("node ready", "programs", names)
	}
}

// Status returns every program's status, in config order.
func (s *Supervisor) Status() []ProgramStatus {
	now := time.Now()
	out := make([]ProgramStatus, len(s.programs))
	for i, p := range s.programs {
		out[i] = p.status(now)
	}
	return out
}

// Start starts a stopped, exited or fatal program; with wait, it returns
// once the program is RUNNING (nil), FATAL (ErrSpawn) or stopped again.
func (s *Supervisor) Start(ctx context.Context, name string, wait bool) error {
	p, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("%s: %w", name, ErrNoSuchProgram)
	}
	changes := s.changesChan()
	if err := p.do(ctx, opStart); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for wait {
		switch p.state() {
		case Running, Exited:
			return nil
		case Fatal:
			return fmt.Errorf("%s: %w", name, ErrSpawn)
		case Stopped, Stopping:
			return fmt.Errorf("%s: %w", name, ErrAbnormalTermination)
		}
		select {
		case <-changes:
			changes = s.changesChan()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Stop stops a program, waiting until it is STOPPED.
func (s *Supervisor) Stop(ctx context.Context, name string) error {
	p, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("%s: %w", name, ErrNoSuchProgram)
	}
	if err := p.do(ctx, opStop); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Restart stops the program if it runs and starts it again.
func (s *Supervisor) Restart(ctx context.Context, name string, wait bool) error {
	if err := s.Stop(ctx, name); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	return s.Start(ctx, name, wait)
}

// Log returns a program's log.
func (s *Supervisor) Log(name string) (*LogFile, error) {
	p, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrNoSuchProgram)
	}
	return p.log, nil
}
