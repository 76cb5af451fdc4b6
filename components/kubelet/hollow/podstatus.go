package hollow

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/kubelet/podstatus"
)

// statusTime is t as the API stores it (whole seconds).
func statusTime(t time.Time) metav1.Time { return podstatus.Time(t) }

// podStatus is the status a kubelet would report for pod, whose containers
// are in state r on a node with IP hostIP, at now. It starts from the
// pod's current status so fields the kubelet does not own are kept.
func podStatus(pod *corev1.Pod, r *podRuntime, hostIP string, c cue, now time.Time) *corev1.PodStatus {
	s := pod.Status.DeepCopy()
	s.ObservedGeneration = pod.Generation
	s.Reason, s.Message = "", ""
	s.HostIP, s.HostIPs = hostIP, []corev1.HostIP{{IP: hostIP}}
	if r.ip.IsValid() {
		s.PodIP, s.PodIPs = r.ip.String(), []corev1.PodIP{{IP: r.ip.String()}}
	}
	if s.StartTime == nil {
		t := statusTime(r.started)
		s.StartTime = &t
	}

	s.InitContainerStatuses = nil
	for _, ic := range pod.Spec.InitContainers {
		if ic.RestartPolicy != nil && *ic.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			s.InitContainerStatuses = append(s.InitContainerStatuses, containerStatus(pod, ic, r, cue{}, now))
			continue
		}
		s.InitContainerStatuses = append(s.InitContainerStatuses, completedInit(pod, ic, r))
	}
	s.ContainerStatuses = make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
	for _, ctr := range pod.Spec.Containers {
		s.ContainerStatuses = append(s.ContainerStatuses, containerStatus(pod, ctr, r, c, now))
	}
	sort.Slice(s.ContainerStatuses, func(i, j int) bool { return s.ContainerStatuses[i].Name < s.ContainerStatuses[j].Name })

	s.Phase = corev1.PodRunning
	if r.finished {
		s.Phase = corev1.PodSucceeded
		if r.last != nil && r.last.code != 0 {
			s.Phase = corev1.PodFailed
		}
	}
	terminal := s.Phase == corev1.PodSucceeded || s.Phase == corev1.PodFailed
	podstatus.SetConditions(pod, s, !terminal, now)
	return s
}

// containerStatus reports one container in runtime state r.
func containerStatus(pod *corev1.Pod, ctr corev1.Container, r *podRuntime, c cue, now time.Time) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{
		Name: ctr.Name, Image: ctr.Image, ImageID: imageID(ctr.Image),
		RestartCount: r.restarts,
		ContainerID:  containerID(pod, ctr.Name, r.restarts),
	}
	started := false
	switch {
	case r.finished && r.last != nil:
		cs.State.Terminated = terminated(r.last, cs.ContainerID)
	case r.finished:
		cs.State.Terminated = &corev1.ContainerStateTerminated{Reason: "Completed", StartedAt: statusTime(r.runStart), FinishedAt: statusTime(now), ContainerID: cs.ContainerID}
	case !r.waitUntil.IsZero():
		cs.ContainerID = "" // no container until the restart
		cs.State.Waiting = &corev1.ContainerStateWaiting{
			Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
				r.backoff, ctr.Name, pod.Name, pod.Namespace, pod.UID),
		}
	default:
		started = true
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: statusTime(r.runStart)}
		cs.Ready = !now.Before(r.runStart.Add(c.readyAfter))
	}
	cs.Started = &started
	if r.last != nil && !r.finished {
		cs.LastTerminationState.Terminated = terminated(r.last, containerID(pod, ctr.Name, r.restarts-1))
	}
	return cs
}

// completedInit reports an init container that ran to completion.
func completedInit(pod *corev1.Pod, ctr corev1.Container, r *podRuntime) corev1.ContainerStatus {
	f := false
	id := containerID(pod, ctr.Name, 0)
	return corev1.ContainerStatus{
		Name: ctr.Name, Image: ctr.Image, ImageID: imageID(ctr.Image), ContainerID: id, Started: &f, Ready: true,
		State: corev1.ContainerState{Terminated: terminated(&termination{started: r.started, finished: r.started}, id)},
	}
}

func terminated(t *termination, id string) *corev1.ContainerStateTerminated {
	reason := "Completed"
	if t.code != 0 {
		reason = "Error"
	}
	return &corev1.ContainerStateTerminated{
		ExitCode: t.code, Reason: reason, ContainerID: id,
		StartedAt: statusTime(t.started), FinishedAt: statusTime(t.finished),
	}
}

// containerID is a stable fake containerd ID for one run of a container.
func containerID(pod *corev1.Pod, name string, run int32) string {
	sum := sha256.Sum256([]byte(string(pod.UID) + "/" + name + "/" + strconv.Itoa(int(run))))
	return "containerd://" + hex.EncodeToString(sum[:])
}

// imageID is a fake image reference with a digest derived from the image.
func imageID(image string) string {
	sum := sha256.Sum256([]byte(image))
	name := image
	if i := strings.LastIndex(name, "@"); i >= 0 {
		name = name[:i]
	} else if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	return name + "@sha256:" + hex.EncodeToString(sum[:])
}
