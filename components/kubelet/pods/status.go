package pods

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubelab/kubelab/components/kubelet/podruntime"
	"github.com/kubelab/kubelab/components/kubelet/podstatus"
)

// Waiting reasons of containers, as upstream.
const (
	ReasonContainerCreating          = "ContainerCreating"
	ReasonPodInitializing            = "PodInitializing"
	ReasonCrashLoopBackOff           = "CrashLoopBackOff"
	ReasonErrImagePull               = "ErrImagePull"
	ReasonImagePullBackOff           = "ImagePullBackOff"
	ReasonErrImageNeverPull          = "ErrImageNeverPull"
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
	ReasonCreateContainerError       = "CreateContainerError"
	ReasonRunContainerError          = "RunContainerError"
)

// waiting is why a container waits (the last sync's error for it).
type waiting struct {
	Reason, Message string
}

// statusInput is what a pod's status is computed from besides the pod
// and its runtime state.
type statusInput struct {
	now    time.Time
	hostIP string
	// waiting holds the sync errors by container name.
	waiting map[string]waiting
	// ready and started report probe results of running containers.
	ready, started func(c *corev1.Container, id string) bool
	// messages returns an exited container's termination message.
	message func(c *corev1.Container, ct *podruntime.Container) string
	// terminal is set once the pod will not run again (it is deleted,
	// or past its active deadline).
	terminal bool
	// reason and message are the pod's (DeadlineExceeded).
	reason, msg string
}

// computeStatus is the status of pod whose runtime state is st, as
// upstream's kubelet reports it.
func computeStatus(pod *corev1.Pod, st *podruntime.PodState, in statusInput) *corev1.PodStatus {
	s := pod.Status.DeepCopy()
	s.ObservedGeneration = pod.Generation
	if in.hostIP != "" {
		s.HostIP, s.HostIPs = in.hostIP, []corev1.HostIP{{IP: in.hostIP}}
	}
	sb := st.Current()
	switch {
	case pod.Spec.HostNetwork && in.hostIP != "":
		s.PodIP, s.PodIPs = in.hostIP, []corev1.PodIP{{IP: in.hostIP}}
	case sb != nil && sb.Ready && len(sb.IPs) > 0:
		s.PodIPs = nil
		for _, ip := range sb.IPs {
			s.PodIPs = append(s.PodIPs, corev1.PodIP{IP: ip})
		}
		s.PodIP = sb.IPs[0]
	}
	if s.StartTime == nil {
		t := podstatus.Time(in.now)
		s.StartTime = &t
	}
	if s.QOSClass == "" {
		s.QOSClass = podruntime.QOSClass(pod)
	}
	initDefault, regularDefault := ReasonPodInitializing, ReasonContainerCreating
	if len(pod.Spec.InitContainers) > 0 {
		regularDefault = ReasonPodInitializing
	}
	s.InitContainerStatuses = statuses(pod.Spec.InitContainers, st, in, initDefault, true)
	s.ContainerStatuses = statuses(pod.Spec.Containers, st, in, regularDefault, false)
	phase := podstatus.Phase(pod, s.InitContainerStatuses, s.ContainerStatuses, in.terminal)
	if in.reason != "" {
		phase = corev1.PodFailed
	}
	// A terminal phase is never left.
	if old := pod.Status.Phase; old == corev1.PodSucceeded || old == corev1.PodFailed {
		phase = old
	}
	if phase != pod.Status.Phase {
		s.Reason, s.Message = "", ""
	}
	if in.reason != "" {
		s.Reason, s.Message = in.reason, in.msg
	}
	s.Phase = phase
	sandboxReady := sb != nil && sb.Ready && phase != corev1.PodSucceeded && phase != corev1.PodFailed
	podstatus.SetConditions(pod, s, sandboxReady, in.now)
	return s
}

// statuses are the statuses of containers in spec order (sorted by name
// for regular containers, as the API server shows them).
func statuses(specs []corev1.Container, st *podruntime.PodState, in statusInput, defaultReason string, init bool) []corev1.ContainerStatus {
	if len(specs) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, 0, len(specs))
	for i := range specs {
		c := &specs[i]
		out = append(out, containerStatus(c, st.Latest(c.Name), st.Previous(c.Name), in, defaultReason, init))
	}
	if !init {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	}
	return out
}

// containerStatus reports spec c whose newest container is cur and whose
// previous exited one is prev.
func containerStatus(c *corev1.Container, cur, prev *podruntime.Container, in statusInput, defaultReason string, init bool) corev1.ContainerStatus {
	f := false
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: &f}
	w, hasWaiting := in.waiting[c.Name]
	if cur == nil {
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: defaultReason}
		if hasWaiting {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
		}
		return cs
	}
	cs.ContainerID = podruntime.ContainerID(cur.ID)
	cs.ImageID = cur.ImageRef
	cs.RestartCount = cur.RestartCount
	switch {
	case cur.Running():
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: podstatus.Time(cur.StartedAt)}
		started := in.started(c, cur.ID)
		cs.Started = &started
		cs.Ready = in.ready(c, cur.ID)
		if prev != nil {
			cs.LastTerminationState.Terminated = terminated(c, prev, in)
		}
	case cur.Exited():
		cs.State.Terminated = terminated(c, cur, in)
		// A completed init container is ready, as upstream reports it.
		cs.Ready = init && !podstatus.IsRestartable(c) && cur.ExitCode == 0
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: ReasonContainerCreating}
	}
	if hasWaiting && !cur.Running() {
		if cs.State.Terminated != nil {
			cs.LastTerminationState.Terminated = cs.State.Terminated
			cs.State.Terminated = nil
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
	}
	if cs.State.Waiting != nil {
		cs.Ready = false
	}
	return cs
}

// terminated is an exited container's terminated state.
func terminated(c *corev1.Container, ct *podruntime.Container, in statusInput) *corev1.ContainerStateTerminated {
	reason := ct.Reason
	switch {
	case reason == "" && ct.ExitCode == 0:
		reason = "Completed"
	case reason == "":
		reason = "Error"
	}
	t := &corev1.ContainerStateTerminated{
		ExitCode: ct.ExitCode, Reason: reason, Message: ct.Message,
		StartedAt: podstatus.Time(ct.StartedAt), FinishedAt: podstatus.Time(ct.FinishedAt),
		ContainerID: podruntime.ContainerID(ct.ID),
	}
	if in.message != nil {
		if msg := in.message(c, ct); msg != "" {
			t.Message = msg
		}
	}
	return t
}
