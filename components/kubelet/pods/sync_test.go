package pods

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRunWithInitContainers(t *testing.T) {
	h := newHarness(t)
	pod := testPod("web", corev1.RestartPolicyAlways, ctr("main", "nginx"), ctr("side", "busybox"))
	pod.Spec.InitContainers = []corev1.Container{ctr("init1", "busybox"), ctr("init2", "busybox")}
	pod = h.add(pod)

	pod, _, _ = h.sync(pod)
	if h.calls("RunPodSandbox") != 1 || h.calls("StartContainer") != 1 {
		t.Fatalf("calls after first sync: %v", h.rt.GetCalls())
	}
	if pod.Status.Phase != corev1.PodPending || cond(pod, corev1.PodInitialized).Status != corev1.ConditionFalse ||
		status(pod, "init1").State.Running == nil || status(pod, "main").State.Waiting.Reason != ReasonPodInitializing {
		t.Fatalf("status while initializing: %+v", pod.Status)
	}
	if pod.Status.PodIP == "" || pod.Status.HostIP != "172.18.0.2" || pod.Status.StartTime == nil {
		t.Errorf("IPs/start time: %+v", pod.Status)
	}
	h.exit("init1", 0, "")
	pod, _, _ = h.sync(pod)
	if status(pod, "init2").State.Running == nil || status(pod, "init1").State.Terminated.Reason != "Completed" || !status(pod, "init1").Ready {
		t.Fatalf("second init container not running: %+v", pod.Status.InitContainerStatuses)
	}
	h.exit("init2", 0, "")
	pod, _, _ = h.sync(pod)
	if pod.Status.Phase != corev1.PodRunning || cond(pod, corev1.PodReady).Status != corev1.ConditionTrue ||
		cond(pod, corev1.PodInitialized).Status != corev1.ConditionTrue || cond(pod, corev1.ContainersReady).Status != corev1.ConditionTrue ||
		cond(pod, corev1.PodReadyToStartContainers).Status != corev1.ConditionTrue {
		t.Fatalf("not running and ready: %+v", pod.Status)
	}
	for _, name := range []string{"main", "side"} {
		cs := status(pod, name)
		if cs.State.Running == nil || !cs.Ready || !*cs.Started || !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.RestartCount != 0 {
			t.Errorf("%s: %+v", name, cs)
		}
	}
	if pod.Status.ContainerStatuses[0].Name != "main" {
		t.Errorf("container statuses not sorted: %v", pod.Status.ContainerStatuses)
	}
	// A steady sync does nothing.
	before := len(h.rt.GetCalls())
	h.sync(pod)
	for _, c := range h.rt.GetCalls()[before:] {
		if c == "CreateContainer" || c == "RunPodSandbox" || c == "StopContainer" {
			t.Errorf("steady sync called %s", c)
		}
	}
	if ev := h.events(); !strings.Contains(ev, "Started container main") || !strings.Contains(ev, "already present on machine") {
		t.Errorf("events: %s", ev)
	}
}

func TestRestartPolicies(t *testing.T) {
	for _, tc := range []struct {
		name       string
		policy     corev1.RestartPolicy
		code       int32
		reason     string
		phase      corev1.PodPhase
		restart    bool
		termReason string
	}{
		{"never succeeds", corev1.RestartPolicyNever, 0, "", corev1.PodSucceeded, false, "Completed"},
		{"never fails", corev1.RestartPolicyNever, 3, "", corev1.PodFailed, false, "Error"},
		{"never oom", corev1.RestartPolicyNever, 137, "OOMKilled", corev1.PodFailed, false, "OOMKilled"},
		{"on failure succeeds", corev1.RestartPolicyOnFailure, 0, "", corev1.PodSucceeded, false, "Completed"},
		{"on failure restarts", corev1.RestartPolicyOnFailure, 1, "", corev1.PodRunning, true, ""},
		{"always restarts", corev1.RestartPolicyAlways, 0, "", corev1.PodRunning, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			pod := h.add(testPod("p", tc.policy, ctr("c", "busybox")))
			pod, _, _ = h.sync(pod)
			h.exit("c", tc.code, tc.reason)
			pod, _, _ = h.sync(pod)
			if pod.Status.Phase != tc.phase {
				t.Fatalf("phase = %s, want %s", pod.Status.Phase, tc.phase)
			}
			cs := status(pod, "c")
			if tc.restart {
				if cs.RestartCount != 1 || cs.State.Running == nil || cs.LastTerminationState.Terminated == nil ||
					cs.LastTerminationState.Terminated.ExitCode != tc.code {
					t.Fatalf("not restarted: %+v", cs)
				}
				return
			}
			if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != tc.code || cs.State.Terminated.Reason != tc.termReason {
				t.Fatalf("terminated state: %+v", cs.State)
			}
			if cond(pod, corev1.PodReady).Status != corev1.ConditionFalse || cond(pod, corev1.PodReadyToStartContainers).Status != corev1.ConditionFalse {
				t.Errorf("conditions of a finished pod: %+v", pod.Status.Conditions)
			}
			if h.calls("StopPodSandbox") != 1 {
				t.Errorf("sandbox of a finished pod not stopped: %v", h.rt.GetCalls())
			}
			// It never runs again.
			pod, _, _ = h.sync(pod)
			if h.calls("CreateContainer") != 1 || pod.Status.Phase != tc.phase {
				t.Errorf("finished pod ran again: %v", h.rt.GetCalls())
			}
		})
	}
}

func TestCrashLoopBackOff(t *testing.T) {
	h := newHarness(t)
	pod := h.add(testPod("crash", corev1.RestartPolicyAlways, ctr("c", "busybox")))
	pod, _, _ = h.sync(pod)
	h.exit("c", 1, "")
	pod, _, _ = h.sync(pod) // the first restart is immediate
	if cs := status(pod, "c"); cs.RestartCount != 1 || cs.State.Running == nil {
		t.Fatalf("first restart: %+v", cs)
	}
	for i, wait := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
		h.exit("c", 1, "")
		var next time.Duration
		pod, next, _ = h.sync(pod)
		cs := status(pod, "c")
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonCrashLoopBackOff ||
			!strings.Contains(cs.State.Waiting.Message, "back-off "+wait.String()) || cs.LastTerminationState.Terminated == nil ||
			cs.LastTerminationState.Terminated.ExitCode != 1 || cs.RestartCount != int32(i+1) || cs.Ready {
			t.Fatalf("round %d: %+v", i, cs)
		}
		if pod.Status.Phase != corev1.PodRunning {
			t.Errorf("phase %s while crash looping", pod.Status.Phase)
		}
		if next <= 0 || next > wait {
			t.Errorf("round %d: next sync in %v, want within %v", i, next, wait)
		}
		h.clock.Step(wait / 2)
		pod, _, _ = h.sync(pod)
		if status(pod, "c").State.Waiting == nil {
			t.Fatalf("round %d: restarted before the backoff ended", i)
		}
		h.clock.Step(wait / 2)
		pod, _, _ = h.sync(pod)
		if cs := status(pod, "c"); cs.State.Running == nil || cs.RestartCount != int32(i+2) {
			t.Fatalf("round %d: not restarted after the backoff: %+v", i, cs)
		}
	}
	if !strings.Contains(h.events(), "Back-off restarting failed container c") {
		t.Error("no BackOff event")
	}
	// Ten minutes of running resets the backoff.
	h.clock.Step(11 * time.Minute)
	h.exit("c", 1, "")
	pod, _, _ = h.sync(pod)
	if cs := status(pod, "c"); cs.State.Running == nil {
		t.Fatalf("backoff not reset after a long run: %+v", cs)
	}
	// Only the current and the previous run are kept.
	n := 0
	for _, c := range h.rt.Containers {
		if c.Metadata.Name == "c" {
			n++
		}
	}
	if n > 2 {
		t.Errorf("%d containers kept", n)
	}
}

func TestImages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy corev1.PullPolicy
		pull   bool
		reason string
	}{
		{"never", corev1.PullNever, false, ReasonErrImageNeverPull},
		{"pull fails", corev1.PullIfNotPresent, false, ReasonErrImagePull},
		{"pulled", corev1.PullAlways, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c := ctr("c", "missing:1")
			c.ImagePullPolicy = tc.policy
			if !tc.pull {
				h.img.InjectError("PullImage", errBoom)
			}
			pod := h.add(testPod("p", corev1.RestartPolicyAlways, c))
			pod, next, _ := h.sync(pod)
			cs := status(pod, "c")
			if tc.reason == "" {
				if cs.State.Running == nil {
					t.Fatalf("not running after a pull: %+v", cs)
				}
				return
			}
			if cs.State.Waiting == nil || cs.State.Waiting.Reason != tc.reason || pod.Status.Phase != corev1.PodPending {
				t.Fatalf("status: %+v", pod.Status)
			}
			if next <= 0 || next > 10*time.Second {
				t.Errorf("next sync in %v", next)
			}
			if ev := h.events(); !strings.Contains(ev, tc.reason) && !strings.Contains(ev, "Failed to pull") {
				t.Errorf("events: %s", ev)
			}
			if tc.reason == ReasonErrImagePull {
				pod, _, _ = h.sync(pod)
				if cs := status(pod, "c"); cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonImagePullBackOff {
					t.Errorf("second attempt: %+v", cs)
				}
			}
		})
	}
}

func TestConfigErrorAndMissingVolume(t *testing.T) {
	h := newHarness(t)
	c := ctr("c", "busybox")
	c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}}
	pod := h.add(testPod("env", corev1.RestartPolicyAlways, c))
	pod, _, _ = h.sync(pod)
	if cs := status(pod, "c"); cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonCreateContainerConfigError ||
		!strings.Contains(cs.State.Waiting.Message, `configmap "nope" not found`) {
		t.Fatalf("status: %+v", cs)
	}

	vol := testPod("vol", corev1.RestartPolicyAlways, ctr("c", "busybox"))
	vol.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}}
	vol = h.add(vol)
	vol, next, _ := h.sync(vol)
	if cs := status(vol, "c"); cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonContainerCreating || next <= 0 {
		t.Fatalf("status: %+v, next %v", cs, next)
	}
	if ev := h.events(); !strings.Contains(ev, "FailedMount") || !strings.Contains(ev, `configmap "nope" not found`) {
		t.Errorf("events: %s", ev)
	}
	if _, err := h.client.CoreV1().ConfigMaps("default").Create(t.Context(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "nope"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vol, _, _ = h.sync(vol)
	pod, _, _ = h.sync(pod)
	if status(vol, "c").State.Running == nil || status(pod, "c").State.Running == nil {
		t.Errorf("not running once the config map exists: %+v / %+v", status(vol, "c"), status(pod, "c"))
	}
}

func TestInitFailureNever(t *testing.T) {
	h := newHarness(t)
	pod := testPod("p", corev1.RestartPolicyNever, ctr("c", "busybox"))
	pod.Spec.InitContainers = []corev1.Container{ctr("init", "busybox")}
	pod = h.add(pod)
	pod, _, _ = h.sync(pod)
	h.exit("init", 2, "")
	pod, _, _ = h.sync(pod)
	if pod.Status.Phase != corev1.PodFailed || h.calls("CreateContainer") != 1 {
		t.Fatalf("phase %s calls %v", pod.Status.Phase, h.rt.GetCalls())
	}
	if c := cond(pod, corev1.PodInitialized); c.Status != corev1.ConditionFalse || c.Reason != "ContainersNotInitialized" {
		t.Errorf("initialized = %+v", c)
	}
}

func TestGracefulDeletion(t *testing.T) {
	h := newHarness(t)
	c := ctr("c", "busybox")
	c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"drain"}}}}
	pod := h.add(testPod("p", corev1.RestartPolicyAlways, c))
	pod, _, _ = h.sync(pod)
	now := metav1.Now()
	grace := int64(7)
	pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = &now, &grace
	h.pods.SetAPIPod(pod)
	if _, _, done := h.sync(pod); done {
		t.Fatal("worker done before the pod is gone")
	}
	if h.calls("ExecSync") != 1 || h.calls("StopContainer") != 1 || h.calls("StopPodSandbox") != 1 {
		t.Fatalf("calls: %v", h.rt.GetCalls())
	}
	if _, err := h.client.CoreV1().Pods("default").Get(t.Context(), "p", metav1.GetOptions{}); err == nil {
		t.Fatal("pod not deleted")
	}
	h.pods.DeleteAPIPod(pod)
	if _, done := h.s.Sync(t.Context(), pod.UID); !done {
		t.Fatal("worker not done once the pod is gone")
	}
	if len(h.rt.Containers) != 0 || len(h.rt.Sandboxes) != 0 {
		t.Errorf("left behind: %d containers, %d sandboxes", len(h.rt.Containers), len(h.rt.Sandboxes))
	}
	if !strings.Contains(h.events(), "Stopping container c") {
		t.Error("no Killing event")
	}
}

func TestRestartedKubeletAdoptsPods(t *testing.T) {
	h := newHarness(t)
	pod := h.add(testPod("p", corev1.RestartPolicyAlways, ctr("c", "busybox")))
	pod, _, _ = h.sync(pod)
	h.exit("c", 1, "")
	pod, _, _ = h.sync(pod)
	before := status(pod, "c")
	h.restart()
	h.rt.Called = nil
	pod, _, _ = h.sync(pod)
	for _, c := range h.rt.GetCalls() {
		if c == "RunPodSandbox" || c == "CreateContainer" || c == "StartContainer" || c == "StopContainer" {
			t.Errorf("restarted kubelet called %s", c)
		}
	}
	after := status(pod, "c")
	if after.ContainerID != before.ContainerID || after.RestartCount != 1 || after.State.Running == nil || after.LastTerminationState.Terminated == nil {
		t.Errorf("adopted status %+v, was %+v", after, before)
	}
}

func TestPodGoneWhileKubeletDown(t *testing.T) {
	h := newHarness(t)
	pod := h.add(testPod("p", corev1.RestartPolicyAlways, ctr("c", "busybox")))
	h.sync(pod)
	h.restart()
	h.pods.DeleteAPIPod(pod)
	if _, done := h.s.Sync(t.Context(), pod.UID); !done {
		t.Fatal("orphan not cleaned")
	}
	if len(h.rt.Containers) != 0 || len(h.rt.Sandboxes) != 0 || h.calls("StopContainer") != 1 {
		t.Errorf("orphan left: %v", h.rt.GetCalls())
	}
}

func TestActiveDeadline(t *testing.T) {
	h := newHarness(t)
	pod := testPod("p", corev1.RestartPolicyAlways, ctr("c", "busybox"))
	deadline := int64(30)
	pod.Spec.ActiveDeadlineSeconds = &deadline
	pod = h.add(pod)
	pod, next, _ := h.sync(pod)
	if next <= 0 || next > 30*time.Second {
		t.Errorf("next sync in %v, want the deadline", next)
	}
	h.clock.Step(31 * time.Second)
	pod, _, _ = h.sync(pod)
	if pod.Status.Phase != corev1.PodFailed || pod.Status.Reason != "DeadlineExceeded" || h.calls("StopContainer") != 1 {
		t.Errorf("status %+v calls %v", pod.Status, h.rt.GetCalls())
	}
}

func TestTerminationMessage(t *testing.T) {
	h := newHarness(t)
	pod := h.add(testPod("p", corev1.RestartPolicyNever, ctr("c", "busybox")))
	pod, _, _ = h.sync(pod)
	// The container writes its termination message file.
	f := h.s.Layout.TerminationMessageFile(pod, "c", 0)
	if err := writeFile(f, "bye"); err != nil {
		t.Fatal(err)
	}
	h.exit("c", 0, "")
	pod, _, _ = h.sync(pod)
	if term := status(pod, "c").State.Terminated; term == nil || term.Message != "bye" {
		t.Errorf("terminated = %+v", term)
	}
}

// errBoom is an injected runtime error.
var errBoom = errors.New("boom")
