package prober

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// worker probes one container with one probe until stopped.
type worker struct {
	m      *Manager
	kind   Kind
	probe  *corev1.Probe
	target Target
	cancel context.CancelFunc

	mu    sync.Mutex
	podIP string
}

// startWorker starts probing t with p; callers hold m.mu.
func (m *Manager) startWorker(ctx context.Context, k Kind, p *corev1.Probe, t Target, startedAt time.Time) *worker {
	ctx, cancel := context.WithCancel(ctx)
	w := &worker{m: m, kind: k, probe: p, target: t, cancel: cancel, podIP: t.PodIP}
	// A new container starts not ready, alive and not yet started.
	initial := map[Kind]Result{Liveness: Success, Readiness: Failure, Startup: Unknown}[k]
	m.results[resultKey{t.ContainerID, k}] = initial
	go w.run(ctx, startedAt)
	return w
}

func (w *worker) stop() { w.cancel() }

func (w *worker) setPodIP(ip string) {
	w.mu.Lock()
	w.podIP = ip
	w.mu.Unlock()
}

// run probes on the probe's schedule: first once the initial delay after
// the container's start passed, then every period; a result is recorded
// after successThreshold (failureThreshold) equal outcomes in a row.
func (w *worker) run(ctx context.Context, startedAt time.Time) {
	t := timingOf(w.probe)
	first := time.Until(startedAt.Add(t.delay))
	timer := time.NewTimer(max(first, 0))
	defer timer.Stop()
	var last Result
	streak := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(t.period)
		if !w.due() {
			continue
		}
		target := w.target
		w.mu.Lock()
		target.PodIP = w.podIP
		w.mu.Unlock()
		res, out := w.m.runner.Run(ctx, &w.probe.ProbeHandler, target, t.timeout)
		if ctx.Err() != nil {
			return
		}
		if res == Failure && w.m.recorder != nil {
			w.m.recorder.Eventf(target.Pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", w.kind, out)
		}
		if res == last {
			streak++
		} else {
			last, streak = res, 1
		}
		need := t.failure
		if res == Success {
			need = t.success
			if w.kind != Readiness {
				need = 1 // liveness and startup succeed at once
			}
		}
		if streak >= need && res != Unknown {
			w.m.setResult(target.Pod.UID, target.ContainerID, w.kind, res)
			if res == Success && w.kind == Startup {
				return // a started container is not probed for startup again
			}
			if res == Failure && w.kind != Readiness {
				// The container is restarted; a new worker probes the next one.
				return
			}
		}
	}
}

// due reports whether this probe runs now: liveness and readiness wait
// for the startup probe to pass.
func (w *worker) due() bool {
	if w.kind == Startup {
		return true
	}
	return w.m.Started(w.target.Container, w.target.ContainerID)
}
