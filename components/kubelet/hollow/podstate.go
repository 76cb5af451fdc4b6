package hollow

import (
	"net/netip"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// cue is how a pod's containers behave, read from its annotations.
type cue struct {
	// exits is set when the containers end on their own: after run, with
	// code.
	exits bool
	code  int32
	run   time.Duration
	// readyAfter delays readiness after each container start.
	readyAfter time.Duration
}

// cueOf reads the hollow annotations; malformed values are ignored.
func cueOf(pod *corev1.Pod) cue {
	var c cue
	a := pod.Annotations
	if v, ok := a[AnnotationExitCode]; ok {
		if code, err := strconv.ParseInt(v, 10, 32); err == nil {
			c.exits, c.code = true, int32(code)
		}
	}
	if v, ok := a[AnnotationRunSeconds]; ok {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			c.exits, c.run = true, time.Duration(s*float64(time.Second))
		}
	}
	if v, ok := a[AnnotationReadyAfterSeconds]; ok {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
			c.readyAfter = time.Duration(s * float64(time.Second))
		}
	}
	return c
}

// termination is one ended container run.
type termination struct {
	code              int32
	started, finished time.Time
}

// podRuntime is the simulated runtime state of one pod. Every container of
// the pod moves in lockstep: they start, exit and restart together.
type podRuntime struct {
	uid  types.UID
	node *node
	ip   netip.Addr
	// pooled is set when ip came from the node's pool (and goes back).
	pooled bool

	started  time.Time // the pod's startTime
	runStart time.Time // start of the containers' current run
	restarts int32
	last     *termination
	// waitUntil is set while the containers wait in CrashLoopBackOff.
	waitUntil time.Time
	// backoff and backoffAt are upstream's per-container backoff entry:
	// the current delay and the finish time it was last raised at.
	backoff   time.Duration
	backoffAt time.Time
	// finished is set once the containers ended for good.
	finished bool
	// killAt is set once the pod is being deleted.
	killAt time.Time
}

// running reports whether the containers are running.
func (r *podRuntime) running() bool { return !r.finished && r.waitUntil.IsZero() }

// advance moves r to now following the cue and restart policy, with
// upstream's CrashLoopBackOff: the first restart is immediate, then each
// waits base, 2*base, ... up to max after the exit; a container that ran
// longer than 2*max since the last backoff starts over. It returns when r
// next changes on its own (zero: never).
func (r *podRuntime) advance(c cue, policy corev1.RestartPolicy, now time.Time, base, max time.Duration) time.Time {
	var next time.Time
	for !r.finished {
		if !r.waitUntil.IsZero() {
			if now.Before(r.waitUntil) {
				next = r.waitUntil
				break
			}
			r.runStart, r.waitUntil = r.waitUntil, time.Time{}
			r.restarts++
			r.backoff, r.backoffAt = min(2*r.backoff, max), r.last.finished
			continue
		}
		if !c.exits {
			break
		}
		exitAt := r.runStart.Add(c.run)
		if now.Before(exitAt) {
			next = exitAt
			break
		}
		r.last = &termination{code: c.code, started: r.runStart, finished: exitAt}
		if policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && c.code == 0) {
			r.finished = true
			break
		}
		if r.backoff == 0 || exitAt.Sub(r.backoffAt) > 2*max {
			// No backoff entry (or an expired one): restart at once.
			r.backoff, r.backoffAt = base, exitAt
			r.runStart = exitAt
			r.restarts++
			continue
		}
		r.waitUntil = exitAt.Add(r.backoff)
	}
	if r.running() && c.readyAfter > 0 {
		if readyAt := r.runStart.Add(c.readyAfter); now.Before(readyAt) && (next.IsZero() || readyAt.Before(next)) {
			next = readyAt
		}
	}
	return next
}

// kill ends the containers now (the pod is being deleted): running ones
// stop gracefully with exit code 0; ones waiting to restart keep their
// last exit.
func (r *podRuntime) kill(now time.Time) {
	if r.finished {
		return
	}
	if r.running() || r.last == nil {
		r.last = &termination{code: 0, started: r.runStart, finished: now}
	}
	r.finished, r.waitUntil = true, time.Time{}
}

// adopt resumes r from a status an earlier hollow process wrote, so a
// restart keeps start times and restart counts.
func (r *podRuntime) adopt(s *corev1.PodStatus) {
	if s.StartTime != nil {
		r.started = s.StartTime.Time
	}
	if len(s.ContainerStatuses) == 0 {
		return
	}
	cs := s.ContainerStatuses[0]
	r.restarts = cs.RestartCount
	if cs.State.Running != nil && !cs.State.Running.StartedAt.IsZero() {
		r.runStart = cs.State.Running.StartedAt.Time
	}
	if t := cs.LastTerminationState.Terminated; t != nil {
		r.last = &termination{code: t.ExitCode, started: t.StartedAt.Time, finished: t.FinishedAt.Time}
	}
}
