// Package podstatus is what kubelab's kubelets (the kubelet on containerd
// and the hollow nodes) report about a pod the same way upstream's kubelet
// does: the kubelet-owned pod conditions, the phase computed from the
// container statuses, and the status patch written through the pods/status
// subresource.
package podstatus

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons of the kubelet-owned pod conditions, as upstream.
const (
	ReasonPodCompleted             = "PodCompleted"
	ReasonPodFailed                = "PodFailed"
	ReasonContainersNotReady       = "ContainersNotReady"
	ReasonContainersNotInitialized = "ContainersNotInitialized"
	ReasonReadinessGatesNotReady   = "ReadinessGatesNotReady"
)

// Time is t as the API stores it (whole seconds).
func Time(t time.Time) metav1.Time { return metav1.NewTime(t).Rfc3339Copy() }

// Condition returns the condition of type t in s, or nil.
func Condition(s *corev1.PodStatus, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// SetCondition sets c in s, keeping the transition time (and last probe
// time) of an existing condition whose status did not change.
func SetCondition(s *corev1.PodStatus, c corev1.PodCondition, now time.Time) {
	c.LastTransitionTime = Time(now)
	if old := Condition(s, c.Type); old != nil {
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		c.LastProbeTime = old.LastProbeTime
		*old = c
		return
	}
	s.Conditions = append(s.Conditions, c)
}

// SetConditions sets the conditions a kubelet owns from s's phase and
// container statuses, as upstream's status generators: PodScheduled (when
// absent), PodReadyToStartContainers (sandboxReady), Initialized,
// ContainersReady and Ready (which also honours the readiness gates).
func SetConditions(pod *corev1.Pod, s *corev1.PodStatus, sandboxReady bool, now time.Time) {
	set := func(t corev1.PodConditionType, ok bool, reason, msg string) {
		SetCondition(s, corev1.PodCondition{Type: t, Status: boolStatus(ok), Reason: reason, Message: msg,
			ObservedGeneration: pod.Generation}, now)
	}
	if Condition(s, corev1.PodScheduled) == nil {
		set(corev1.PodScheduled, true, "", "")
	}
	set(corev1.PodReadyToStartContainers, sandboxReady, "", "")
	reason, msg := initialized(pod, s)
	set(corev1.PodInitialized, reason == "" || reason == ReasonPodCompleted, reason, msg)
	reason, msg = containersReady(pod, s)
	set(corev1.ContainersReady, reason == "", reason, msg)
	if reason == "" {
		reason, msg = readinessGates(pod, s)
	}
	set(corev1.PodReady, reason == "", reason, msg)
}

// initialized returns why the pod's init containers are not done ("" when
// they are; PodCompleted for a pod that succeeded).
func initialized(pod *corev1.Pod, s *corev1.PodStatus) (string, string) {
	var unknown, incomplete []string
	for _, c := range pod.Spec.InitContainers {
		cs := find(s.InitContainerStatuses, c.Name)
		switch {
		case cs == nil:
			unknown = append(unknown, c.Name)
		case IsRestartable(&c) && (cs.Started == nil || !*cs.Started):
			incomplete = append(incomplete, c.Name)
		case !IsRestartable(&c) && !cs.Ready:
			incomplete = append(incomplete, c.Name)
		}
	}
	if s.Phase == corev1.PodSucceeded && len(unknown) == 0 {
		return ReasonPodCompleted, ""
	}
	if anyRegularStarted(pod, s) {
		return "", ""
	}
	return notReady(ReasonContainersNotInitialized, unknown, "incomplete", incomplete)
}

// containersReady returns why the pod's containers (and sidecars) are not
// all ready ("" when they are).
func containersReady(pod *corev1.Pod, s *corev1.PodStatus) (string, string) {
	var unknown, unready []string
	check := func(name string, statuses []corev1.ContainerStatus) {
		switch cs := find(statuses, name); {
		case cs == nil:
			unknown = append(unknown, name)
		case !cs.Ready:
			unready = append(unready, name)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if IsRestartable(&c) {
			check(c.Name, s.InitContainerStatuses)
		}
	}
	for _, c := range pod.Spec.Containers {
		check(c.Name, s.ContainerStatuses)
	}
	switch {
	case s.Phase == corev1.PodSucceeded && len(unknown) == 0:
		return ReasonPodCompleted, ""
	case s.Phase == corev1.PodFailed:
		return ReasonPodFailed, ""
	}
	return notReady(ReasonContainersNotReady, unknown, "unready", unready)
}

// notReady formats upstream's "containers with unknown status: [a],
// containers with <what> status: [b c]" message.
func notReady(reason string, unknown []string, what string, names []string) (string, string) {
	var msgs []string
	if len(unknown) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unknown status: %s", unknown))
	}
	if len(names) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with %s status: %s", what, names))
	}
	if len(msgs) == 0 {
		return "", ""
	}
	return reason, strings.Join(msgs, ", ")
}

// readinessGates returns why the pod's readiness gates keep it unready.
func readinessGates(pod *corev1.Pod, s *corev1.PodStatus) (string, string) {
	var msgs []string
	for _, g := range pod.Spec.ReadinessGates {
		c := Condition(s, g.ConditionType)
		switch {
		case c == nil:
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", g.ConditionType))
		case c.Status != corev1.ConditionTrue:
			msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", g.ConditionType, c.Status))
		}
	}
	if len(msgs) == 0 {
		return "", ""
	}
	return ReasonReadinessGatesNotReady, strings.Join(msgs, ", ")
}

// anyRegularStarted reports whether a regular container ever started (it
// runs or ran), so the pod was initialized before.
func anyRegularStarted(pod *corev1.Pod, s *corev1.PodStatus) bool {
	for _, c := range pod.Spec.Containers {
		if cs := find(s.ContainerStatuses, c.Name); cs != nil &&
			(cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil) {
			return true
		}
	}
	return false
}

// IsRestartable reports whether c is a sidecar: an init container with
// restartPolicy Always.
func IsRestartable(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func find(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

func boolStatus(ok bool) corev1.ConditionStatus {
	if ok {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}
