package framework

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrPodTerminated ends a wait for a pod state that a pod in a terminal
// phase can no longer reach.
var ErrPodTerminated = errors.New("pod reached a terminal phase")

// TestContainer is a container of the test image running its subcommand
// args (the image has no shell: args are testapp's, e.g. "exit", "--code", "3").
func TestContainer(name string, args ...string) corev1.Container {
	return corev1.Container{
		Name:            name,
		Image:           TestContext.TestImage,
		ImagePullPolicy: corev1.PullPolicy(TestContext.TestImagePullPolicy),
		Args:            args,
	}
}

// TestPod is a pod named name with one container "app" running the test
// image's subcommand args, restartPolicy Never and a short grace period.
func TestPod(name string, args ...string) *corev1.Pod {
	grace := int64(5)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"e2e.kubelab.io/pod": name}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			Containers:                    []corev1.Container{TestContainer("app", args...)},
		},
	}
}

// CreatePod creates pod in the spec's namespace and fails the spec if it
// cannot.
func (f *Framework) CreatePod(ctx context.Context, pod *corev1.Pod) *corev1.Pod {
	created, err := f.Client.CoreV1().Pods(f.NS()).Create(ctx, pod, metav1.CreateOptions{})
	ExpectNoError(err, "create pod %s", pod.Name)
	Logf("created pod %s/%s", f.NS(), created.Name)
	return created
}

// WaitForPod polls pod name of the spec's namespace until cond holds for
// it and returns the pod that satisfied it. cond's error ends the wait.
func (f *Framework) WaitForPod(ctx context.Context, name, desc string, timeout time.Duration, cond func(*corev1.Pod) (bool, error)) (*corev1.Pod, error) {
	var last *corev1.Pod
	err := WaitFor(ctx, fmt.Sprintf("pod %s/%s %s", f.NS(), name, desc), timeout, func(ctx context.Context) (bool, string, error) {
		pod, err := f.Client.CoreV1().Pods(f.NS()).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "get: " + err.Error(), nil
		}
		last = pod
		done, err := cond(pod)
		return done, PodSummary(pod), err
	})
	return last, err
}

// WaitForPodRunning waits until the pod is Running with every container
// started, and fails the spec if it is not within PodStartTimeout.
func (f *Framework) WaitForPodRunning(ctx context.Context, name string) *corev1.Pod {
	pod, err := f.WaitForPod(ctx, name, "to be running", TestContext.PodStartTimeout, func(p *corev1.Pod) (bool, error) {
		switch p.Status.Phase {
		case corev1.PodRunning:
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Running == nil {
					return false, nil
				}
			}
			return len(p.Status.ContainerStatuses) == len(p.Spec.Containers), nil
		case corev1.PodSucceeded, corev1.PodFailed:
			return false, ErrPodTerminated
		}
		return false, nil
	})
	ExpectNoError(err)
	return pod
}

// WaitForPodReady waits until the pod's Ready condition is True.
func (f *Framework) WaitForPodReady(ctx context.Context, name string, timeout time.Duration) *corev1.Pod {
	pod, err := f.WaitForPod(ctx, name, "to be ready", timeout, func(p *corev1.Pod) (bool, error) {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return false, ErrPodTerminated
		}
		return PodConditionTrue(p, corev1.PodReady), nil
	})
	ExpectNoError(err)
	return pod
}

// WaitForPodPhase waits until the pod reaches phase (Succeeded or Failed:
// reaching the other terminal phase ends the wait with an error).
func (f *Framework) WaitForPodPhase(ctx context.Context, name string, phase corev1.PodPhase) *corev1.Pod {
	pod, err := f.WaitForPod(ctx, name, "to be "+string(phase), TestContext.PodStartTimeout, func(p *corev1.Pod) (bool, error) {
		if p.Status.Phase == phase {
			return true, nil
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return false, fmt.Errorf("%w: %s", ErrPodTerminated, p.Status.Phase)
		}
		return false, nil
	})
	ExpectNoError(err)
	return pod
}

// WaitForPodGone waits until the pod (with uid, when uid is not "") no
// longer exists.
func (f *Framework) WaitForPodGone(ctx context.Context, name string, uid types.UID, timeout time.Duration) error {
	return WaitFor(ctx, fmt.Sprintf("pod %s/%s to be gone", f.NS(), name), timeout, func(ctx context.Context) (bool, string, error) {
		pod, err := f.Client.CoreV1().Pods(f.NS()).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		if err != nil {
			return false, "get: " + err.Error(), nil
		}
		if uid != "" && pod.UID != uid {
			return true, "", nil
		}
		return false, PodSummary(pod), nil
	})
}

// PodConditionTrue reports whether the pod's condition t is True.
func PodConditionTrue(pod *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ContainerStatus returns the status of container name (an init container
// or an app container), or nil.
func ContainerStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// PodSummary is a one-line description of a pod's status: phase, node,
// conditions and each container's state, for wait errors and dumps.
func PodSummary(pod *corev1.Pod) string {
	if pod == nil {
		return "<no pod>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s phase=%s", pod.Name, pod.Status.Phase)
	if pod.Spec.NodeName != "" {
		fmt.Fprintf(&b, " node=%s", pod.Spec.NodeName)
	}
	if pod.DeletionTimestamp != nil {
		fmt.Fprintf(&b, " deleting(grace=%ds)", deref(pod.DeletionGracePeriodSeconds))
	}
	if pod.Status.Reason != "" {
		fmt.Fprintf(&b, " reason=%s", pod.Status.Reason)
	}
	var conds []string
	for _, c := range pod.Status.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s", c.Type, c.Status))
	}
	if len(conds) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(conds, ","))
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			fmt.Fprintf(&b, " %s:%s", cs.Name, ContainerStateString(cs.State))
			if cs.RestartCount > 0 {
				fmt.Fprintf(&b, "(restarts=%d,last=%s)", cs.RestartCount, ContainerStateString(cs.LastTerminationState))
			}
			if cs.Ready {
				b.WriteString("(ready)")
			}
		}
	}
	return b.String()
}

// ContainerStateString describes a container state in a few words.
func ContainerStateString(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return fmt.Sprintf("terminated(%s,exit=%d)", s.Terminated.Reason, s.Terminated.ExitCode)
	case s.Waiting != nil:
		if s.Waiting.Message != "" {
			return fmt.Sprintf("waiting(%s: %s)", s.Waiting.Reason, s.Waiting.Message)
		}
		return fmt.Sprintf("waiting(%s)", s.Waiting.Reason)
	}
	return "unknown"
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
