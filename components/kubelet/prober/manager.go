package prober

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// Kind is a probe's kind.
type Kind int

// The probe kinds.
const (
	Liveness Kind = iota
	Readiness
	Startup
)

// String names the kind as events do (Liveness, Readiness, Startup).
func (k Kind) String() string {
	switch k {
	case Liveness:
		return "Liveness"
	case Readiness:
		return "Readiness"
	}
	return "Startup"
}

// probeOf is container c's probe of kind k (nil: none).
func probeOf(c *corev1.Container, k Kind) *corev1.Probe {
	switch k {
	case Liveness:
		return c.LivenessProbe
	case Readiness:
		return c.ReadinessProbe
	}
	return c.StartupProbe
}

// Running is a running container to probe.
type Running struct {
	ContainerID string
	StartedAt   time.Time
}

type workerKey struct {
	uid       types.UID
	container string
	kind      Kind
}

type resultKey struct {
	containerID string
	kind        Kind
}

// Manager runs one worker per probe of each running container and keeps
// the results by container ID.
type Manager struct {
	runner   *Runner
	onChange func(types.UID)
	recorder record.EventRecorder
	log      *slog.Logger

	mu      sync.Mutex
	workers map[workerKey]*worker
	results map[resultKey]Result
}

// NewManager returns a Manager that runs probes with exec and calls
// onChange with a pod's uid whenever one of its results changes. The
// recorder (optional) gets the Unhealthy events.
func NewManager(exec Execer, recorder record.EventRecorder, onChange func(types.UID)) *Manager {
	return &Manager{
		runner: &Runner{Exec: exec}, onChange: onChange, recorder: recorder,
		log:     slog.Default().With("component", "prober"),
		workers: map[workerKey]*worker{}, results: map[resultKey]Result{},
	}
}

// Sync makes the pod's probe workers match its running containers (by
// name) at pod IP podIP: workers start for new containers and stop for
// gone ones.
func (m *Manager) Sync(ctx context.Context, pod *corev1.Pod, running map[string]Running, podIP string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[workerKey]bool{}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			c := &list[i]
			r, ok := running[c.Name]
			if !ok {
				continue
			}
			for _, k := range []Kind{Liveness, Readiness, Startup} {
				p := probeOf(c, k)
				if p == nil {
					continue
				}
				key := workerKey{pod.UID, c.Name, k}
				want[key] = true
				w := m.workers[key]
				if w != nil && w.target.ContainerID == r.ContainerID {
					w.setPodIP(podIP)
					continue
				}
				if w != nil {
					w.stop()
				}
				t := Target{Pod: pod, Container: c, ContainerID: r.ContainerID, PodIP: podIP}
				m.workers[key] = m.startWorker(ctx, k, p, t, r.StartedAt)
			}
		}
	}
	for key, w := range m.workers {
		if key.uid == pod.UID && !want[key] {
			w.stop()
			delete(m.workers, key)
		}
	}
}

// Remove stops every worker of the pod and drops its results.
func (m *Manager) Remove(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, w := range m.workers {
		if key.uid == uid {
			w.stop()
			delete(m.workers, key)
			for _, k := range []Kind{Liveness, Readiness, Startup} {
				delete(m.results, resultKey{w.target.ContainerID, k})
			}
		}
	}
}

// Stop stops every worker.
func (m *Manager) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, w := range m.workers {
		w.stop()
		delete(m.workers, key)
	}
}

// result is the container's result of kind k and whether there is one.
func (m *Manager) result(containerID string, k Kind) (Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.results[resultKey{containerID, k}]
	return r, ok
}

func (m *Manager) setResult(uid types.UID, containerID string, k Kind, r Result) {
	m.mu.Lock()
	old, had := m.results[resultKey{containerID, k}]
	m.results[resultKey{containerID, k}] = r
	m.mu.Unlock()
	if (!had || old != r) && m.onChange != nil {
		m.onChange(uid)
	}
}

// Forget drops the results of a container that was removed.
func (m *Manager) Forget(containerID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range []Kind{Liveness, Readiness, Startup} {
		delete(m.results, resultKey{containerID, k})
	}
}

// Started reports whether the running container c (id) passed its
// startup probe (true without one).
func (m *Manager) Started(c *corev1.Container, id string) bool {
	if c.StartupProbe == nil {
		return true
	}
	r, _ := m.result(id, Startup)
	return r == Success
}

// Ready reports whether the running container c (id) is ready: started
// and passing its readiness probe (true without one).
func (m *Manager) Ready(c *corev1.Container, id string) bool {
	if !m.Started(c, id) {
		return false
	}
	if c.ReadinessProbe == nil {
		return true
	}
	r, _ := m.result(id, Readiness)
	return r == Success
}

// Unhealthy returns why the running container must be restarted (its
// liveness or startup probe failed), or "".
func (m *Manager) Unhealthy(c *corev1.Container, id string) string {
	if c.StartupProbe != nil {
		if r, _ := m.result(id, Startup); r == Failure {
			return fmt.Sprintf("Container %s failed startup probe, will be restarted", c.Name)
		}
	}
	if c.LivenessProbe != nil {
		if r, _ := m.result(id, Liveness); r == Failure {
			return fmt.Sprintf("Container %s failed liveness probe, will be restarted", c.Name)
		}
	}
	return ""
}

// Timing of a probe with upstream's defaults for unset fields.
type timing struct {
	delay, period, timeout time.Duration
	success, failure       int
}

func timingOf(p *corev1.Probe) timing {
	t := timing{delay: time.Duration(p.InitialDelaySeconds) * time.Second, period: 10 * time.Second,
		timeout: time.Second, success: 1, failure: 3}
	if p.PeriodSeconds > 0 {
		t.period = time.Duration(p.PeriodSeconds) * time.Second
	}
	if p.TimeoutSeconds > 0 {
		t.timeout = time.Duration(p.TimeoutSeconds) * time.Second
	}
	if p.SuccessThreshold > 0 {
		t.success = int(p.SuccessThreshold)
	}
	if p.FailureThreshold > 0 {
		t.failure = int(p.FailureThreshold)
	}
	return t
}
