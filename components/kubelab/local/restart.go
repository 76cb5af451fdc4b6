package local

import (
	"context"
	"errors"
	"sync"
)

// restartable runs a component that can be stopped and started again on
// its own while the rest of the control plane keeps running, as when a
// controller-manager process is killed and restarted.
type restartable struct {
	mu sync.Mutex
	// parent is the context of the whole run; nil before run.
	parent context.Context
	// cancel stops the running instance; nil while none runs.
	cancel context.CancelFunc
	// stopped receives once an instance stop cancelled has returned.
	stopped chan struct{}
	// start hands a stopped component the context of its next instance.
	start chan context.Context
}

// errNotRunning is returned when there is nothing to stop or start;
// errRunning when starting a component that runs.
var (
	errNotRunning = errors.New("component is not running under this cluster")
	errRunning    = errors.New("component is already running")
)

// run runs f until ctx ends or f fails on its own; after stop it waits
// for resume and runs f again.
func (r *restartable) run(ctx context.Context, f func(context.Context) error) error {
	ictx, cancel := context.WithCancel(ctx)
	r.mu.Lock()
	r.parent, r.cancel = ctx, cancel
	r.stopped, r.start = make(chan struct{}), make(chan context.Context)
	stopped, start := r.stopped, r.start
	r.mu.Unlock()
	// A stop racing with the end of the run returns at once.
	defer close(stopped)
	for {
		err := f(ictx)
		if ictx.Err() == nil || ctx.Err() != nil {
			// Failed on its own, or the whole cluster stops.
			r.mu.Lock()
			if r.cancel != nil {
				r.cancel()
			}
			r.cancel = nil
			r.mu.Unlock()
			cancel()
			return err
		}
		stopped <- struct{}{}
		select {
		case <-ctx.Done():
			return nil
		case ictx = <-start:
		}
	}
}

// stop cancels the running instance and waits until it has returned.
func (r *restartable) stop(ctx context.Context) error {
	r.mu.Lock()
	cancel, stopped := r.cancel, r.stopped
	r.cancel = nil
	r.mu.Unlock()
	if cancel == nil {
		return errNotRunning
	}
	cancel()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// resume starts a stopped component again.
func (r *restartable) resume(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.parent == nil {
		return errNotRunning
	}
	if r.cancel != nil {
		return errRunning
	}
	ictx, cancel := context.WithCancel(r.parent)
	select {
	case r.start <- ictx:
		r.cancel = cancel
		return nil
	case <-ctx.Done():
		cancel()
		return ctx.Err()
	}
}

// StopControllerManager stops the controller-manager as if its process
// were killed, waiting until it has returned (and released its leader
// lease); the API server and the other components keep running.
func (c *Cluster) StopControllerManager(ctx context.Context) error {
	return c.cm.stop(ctx)
}

// StartControllerManager starts a controller-manager stopped by
// StopControllerManager again, with the same options.
func (c *Cluster) StartControllerManager(ctx context.Context) error {
	return c.cm.resume(ctx)
}
