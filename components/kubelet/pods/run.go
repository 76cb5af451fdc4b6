package pods

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kubelab/kubelab/components/kubelet/envvars"
	"github.com/kubelab/kubelab/components/kubelet/podruntime"
	"github.com/kubelab/kubelab/components/kubelet/podstatus"
	"github.com/kubelab/kubelab/components/kubelet/volumes"
)

// podSync is one sync of one running pod.
type podSync struct {
	s   *Syncer
	pod *corev1.Pod
	st  *podruntime.PodState

	sb    *podruntime.Sandbox
	sbCfg *runtimeapi.PodSandboxConfig
	vols  map[string]volumes.Volume

	// waiting collects why containers wait, by name.
	waiting map[string]waiting
	// next is when the pod wants its next sync.
	next time.Duration
}

// soon asks for a sync within d.
func (p *podSync) soon(d time.Duration) {
	if d > 0 && d < p.next {
		p.next = d
	}
}

// downward is what the pod's environment and volumes read of it.
func (p *podSync) downward() envvars.Pod {
	dp := envvars.Pod{Pod: p.pod, HostIP: p.s.NodeIP(), NodeAllocatable: p.s.Allocatable()}
	if p.pod.Spec.HostNetwork {
		dp.PodIPs = []string{dp.HostIP}
	} else if p.sb != nil {
		dp.PodIPs = p.sb.IPs
	}
	return dp
}

// run makes the runtime run the pod: volumes, sandbox, the init
// containers one after the other, then the containers.
func (p *podSync) run(ctx context.Context) error {
	s, pod := p.s, p.pod
	if !pod.Spec.HostNetwork {
		if ok, msg := s.NetworkReady(); !ok {
			s.Recorder.Eventf(pod, corev1.EventTypeWarning, "NetworkNotReady", "network is not ready: %s", msg)
			return fmt.Errorf("network is not ready: %s", msg)
		}
	}
	vols, err := s.Volumes.Setup(ctx, p.downward())
	if err != nil {
		s.Recorder.Event(pod, corev1.EventTypeWarning, "FailedMount", err.Error())
		return err
	}
	p.vols = vols
	if ok, err := p.ensureSandbox(ctx); !ok || err != nil {
		return err
	}
	if !pod.Spec.HostNetwork {
		if err := writeIfChanged(s.Layout.HostsFile(pod), s.Layout.Hosts(pod, p.sb.IPs)); err != nil {
			return fmt.Errorf("write the pod's hosts file: %w", err)
		}
	}
	if !p.runInit(ctx) {
		return nil
	}
	for i := range pod.Spec.Containers {
		p.runContainer(ctx, &pod.Spec.Containers[i])
	}
	return nil
}

// ensureSandbox makes sure the pod has a ready sandbox. It reports false
// when the pod must not run again (its sandbox died, restartPolicy Never
// and its containers ran already).
func (p *podSync) ensureSandbox(ctx context.Context) (bool, error) {
	s, pod := p.s, p.pod
	sb := p.st.Current()
	attempt := uint32(0)
	if sb != nil {
		if sb.Ready {
			cfg, err := s.Layout.SandboxConfig(pod, sb.Attempt)
			if err != nil {
				return false, err
			}
			p.sb, p.sbCfg = sb, cfg
			return true, nil
		}
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever && len(p.st.Containers) > 0 {
			return false, nil
		}
		s.Recorder.Eventf(pod, corev1.EventTypeNormal, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
		for _, c := range p.st.Running() {
			if err := s.Runtime.StopContainer(ctx, c.ID, 0); err != nil && !isNotFound(err) {
				return false, fmt.Errorf("stop container %s of a dead sandbox: %w", c.ID, err)
			}
		}
		attempt = sb.Attempt + 1
	}
	cfg, err := s.Layout.SandboxConfig(pod, attempt)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		return false, fmt.Errorf("create pod log directory: %w", err)
	}
	id, err := s.Runtime.RunPodSandbox(ctx, cfg, "")
	if err != nil {
		s.Recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		return false, fmt.Errorf("create pod sandbox: %w", err)
	}
	st, err := s.reader.Pod(ctx, pod.UID)
	if err != nil {
		return false, err
	}
	p.st = st
	for _, sb := range st.Sandboxes {
		if sb.ID == id {
			p.sb = sb
		}
	}
	if p.sb == nil {
		return false, fmt.Errorf("sandbox %s vanished after it was created", id)
	}
	p.sbCfg = cfg
	return true, nil
}

// runInit runs the init containers in order and reports whether they are
// all done (sidecars started).
func (p *podSync) runInit(ctx context.Context) bool {
	pod := p.pod
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cur := p.st.InSandbox(p.sb.ID, c.Name)
		if podstatus.IsRestartable(c) {
			p.runContainer(ctx, c)
			cur = p.st.InSandbox(p.sb.ID, c.Name)
			if cur == nil || !cur.Running() || !p.s.Probes.Started(c, cur.ID) {
				return false
			}
			continue
		}
		switch {
		case cur == nil:
			p.start(ctx, c, nil, true)
			return false
		case cur.Running():
			return false
		case cur.Exited() && cur.ExitCode == 0:
			continue
		case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			return false // the pod failed
		default:
			p.start(ctx, c, cur, true)
			return false
		}
	}
	return true
}

// runContainer keeps one container (or sidecar) as the restart policy
// wants: started, restarted when it exited or failed its liveness probe.
func (p *podSync) runContainer(ctx context.Context, c *corev1.Container) {
	s, pod := p.s, p.pod
	cur := p.st.InSandbox(p.sb.ID, c.Name)
	init := podstatus.IsRestartable(c)
	if cur != nil && cur.Running() {
		why := s.Probes.Unhealthy(c, cur.ID)
		if why == "" && cur.Hash != "" && cur.Hash != podruntime.Hash(c) {
			why = fmt.Sprintf("Container %s definition changed, will be restarted", c.Name)
		}
		if why == "" {
			return
		}
		grace := gracePeriod(pod)
		if lp := c.LivenessProbe; lp != nil && lp.TerminationGracePeriodSeconds != nil {
			grace = *lp.TerminationGracePeriodSeconds
		}
		if err := s.killContainer(ctx, pod, c, cur, grace, why); err != nil {
			p.waiting[c.Name] = waiting{Reason: ReasonCrashLoopBackOff, Message: err.Error()}
		}
		p.soon(10 * time.Millisecond)
		return
	}
	if cur != nil && !restarts(pod, c, cur) {
		return
	}
	p.start(ctx, c, cur, init)
}

// restarts reports whether an exited container is started again.
func restarts(pod *corev1.Pod, c *corev1.Container, cur *podruntime.Container) bool {
	if podstatus.IsRestartable(c) {
		return true
	}
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return !(cur.Exited() && cur.ExitCode == 0)
	}
	return true
}

// start starts container c, after the CrashLoopBackOff delay when it ran
// before (prev exited), and records why it waits when it cannot.
func (p *podSync) start(ctx context.Context, c *corev1.Container, prev *podruntime.Container, init bool) {
	s, pod := p.s, p.pod
	if prev != nil {
		key := backoffKey(pod, c.Name)
		finished := prev.FinishedAt
		if finished.IsZero() {
			finished = prev.CreatedAt
		}
		if s.crashBackoff.IsInBackOffSince(key, finished) {
			delay := s.crashBackoff.Get(key)
			p.waiting[c.Name] = waiting{Reason: ReasonCrashLoopBackOff, Message: fmt.Sprintf(
				"back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, c.Name, pod.Name, pod.Namespace, pod.UID)}
			s.Recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)",
				c.Name, pod.Name, pod.Namespace, pod.UID)
			p.soon(max(delay-s.Clock.Since(finished), time.Millisecond))
			return
		}
		s.crashBackoff.Next(key, finished)
	}
	restartCount := int32(0)
	if l := p.st.Latest(c.Name); l != nil {
		restartCount = l.RestartCount + 1
	}
	if err := p.startContainer(ctx, c, restartCount, init); err != nil {
		se, ok := err.(*startError)
		if !ok {
			se = &startError{reason: ReasonCreateContainerError, msg: err.Error()}
		}
		p.waiting[c.Name] = waiting{Reason: se.reason, Message: se.msg}
		p.soon(max(se.retry, retryBase))
		return
	}
	st, err := s.reader.Pod(ctx, pod.UID)
	if err == nil {
		p.st = st
	}
}
