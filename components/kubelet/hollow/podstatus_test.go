package hollow

import (
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/kubelet/podstatus"
)

func testPod() *corev1.Pod {
	always := corev1.ContainerRestartPolicyAlways
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Generation: 2},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}, {Name: "sidecar", Image: "envoy", RestartPolicy: &always}},
			Containers:     []corev1.Container{{Name: "b", Image: "nginx:1.27"}, {Name: "a", Image: "redis"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
	}
}

func condition(s *corev1.PodStatus, t corev1.PodConditionType) corev1.PodCondition {
	if c := podstatus.Condition(s, t); c != nil {
		return *c
	}
	return corev1.PodCondition{}
}

func TestPodStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("10.244.1.5")
	for _, tc := range []struct {
		name        string
		r           podRuntime
		c           cue
		now         time.Time
		phase       corev1.PodPhase
		ready       corev1.ConditionStatus
		readyReason string
		check       func(t *testing.T, s *corev1.PodStatus)
	}{
		{name: "running", r: podRuntime{ip: ip, started: t0, runStart: t0}, now: t0.Add(time.Second),
			phase: corev1.PodRunning, ready: corev1.ConditionTrue,
			check: func(t *testing.T, s *corev1.PodStatus) {
				if s.PodIP != "10.244.1.5" || s.HostIP != "100.64.0.1" || s.StartTime == nil || s.QOSClass != corev1.PodQOSBestEffort {
					t.Errorf("ips/start/qos: %+v", s)
				}
				if s.ContainerStatuses[0].Name != "a" || s.ContainerStatuses[0].State.Running == nil || !s.ContainerStatuses[0].Ready {
					t.Errorf("container statuses sorted and running: %+v", s.ContainerStatuses)
				}
				if s.InitContainerStatuses[0].State.Terminated == nil || s.InitContainerStatuses[1].State.Running == nil {
					t.Errorf("init statuses: %+v", s.InitContainerStatuses)
				}
				if condition(s, corev1.PodInitialized).Status != corev1.ConditionTrue || condition(s, corev1.PodScheduled).Status != corev1.ConditionTrue {
					t.Errorf("conditions: %+v", s.Conditions)
				}
				if s.ObservedGeneration != 2 {
					t.Errorf("observedGeneration = %d", s.ObservedGeneration)
				}
			}},
		{name: "not ready yet", r: podRuntime{ip: ip, started: t0, runStart: t0}, c: cue{readyAfter: 5 * time.Second}, now: t0.Add(time.Second),
			phase: corev1.PodRunning, ready: corev1.ConditionFalse, readyReason: "ContainersNotReady"},
		{name: "crash loop", r: podRuntime{ip: ip, started: t0, runStart: t0, restarts: 2, waitUntil: t0.Add(time.Minute), backoff: 20 * time.Second,
			last: &termination{code: 1, started: t0, finished: t0.Add(time.Second)}}, now: t0.Add(2 * time.Second),
			phase: corev1.PodRunning, ready: corev1.ConditionFalse, readyReason: "ContainersNotReady",
			check: func(t *testing.T, s *corev1.PodStatus) {
				cs := s.ContainerStatuses[0]
				if cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.RestartCount != 2 ||
					cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 ||
					cs.LastTerminationState.Terminated.Reason != "Error" {
					t.Errorf("crash-looping container: %+v", cs)
				}
				if want := "back-off 20s restarting failed container=a pod=p_ns(u1)"; cs.State.Waiting.Message != want {
					t.Errorf("message %q, want %q", cs.State.Waiting.Message, want)
				}
			}},
		{name: "succeeded", r: podRuntime{ip: ip, started: t0, runStart: t0, finished: true, last: &termination{code: 0, started: t0, finished: t0.Add(time.Second)}},
			now: t0.Add(2 * time.Second), phase: corev1.PodSucceeded, ready: corev1.ConditionFalse, readyReason: "PodCompleted",
			check: func(t *testing.T, s *corev1.PodStatus) {
				if term := s.ContainerStatuses[0].State.Terminated; term == nil || term.Reason != "Completed" || term.ExitCode != 0 {
					t.Errorf("terminated: %+v", s.ContainerStatuses[0].State)
				}
			}},
		{name: "failed", r: podRuntime{ip: ip, started: t0, runStart: t0, finished: true, last: &termination{code: 3, started: t0, finished: t0.Add(time.Second)}},
			now: t0.Add(2 * time.Second), phase: corev1.PodFailed, ready: corev1.ConditionFalse, readyReason: "PodFailed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := podStatus(testPod(), &tc.r, "100.64.0.1", tc.c, tc.now)
			if s.Phase != tc.phase {
				t.Fatalf("phase = %s, want %s", s.Phase, tc.phase)
			}
			if c := condition(s, corev1.PodReady); c.Status != tc.ready || c.Reason != tc.readyReason {
				t.Fatalf("Ready = %s/%s, want %s/%s", c.Status, c.Reason, tc.ready, tc.readyReason)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func TestPodStatusIsStable(t *testing.T) {
	// Writing the status and computing it again later gives no change, so
	// a synced pod is not patched again.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &podRuntime{ip: netip.MustParseAddr("10.0.0.2"), started: t0, runStart: t0}
	pod := testPod()
	pod.Status = *podStatus(pod, r, "100.64.0.1", cue{}, t0.Add(time.Second))
	again := podStatus(pod, r, "100.64.0.1", cue{}, t0.Add(time.Hour))
	if !equality.Semantic.DeepEqual(&pod.Status, again) {
		t.Fatal("status changed without a state change")
	}
}

func TestReadinessGates(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pod := testPod()
	pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
	r := &podRuntime{started: t0, runStart: t0}
	s := podStatus(pod, r, "100.64.0.1", cue{}, t0)
	if c := condition(s, corev1.PodReady); c.Status != corev1.ConditionFalse || c.Reason != "ReadinessGatesNotReady" {
		t.Fatalf("Ready = %+v", c)
	}
	if c := condition(s, corev1.ContainersReady); c.Status != corev1.ConditionTrue {
		t.Fatalf("ContainersReady = %+v", c)
	}
	pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: "example.com/lb", Status: corev1.ConditionTrue})
	if c := condition(podStatus(pod, r, "100.64.0.1", cue{}, t0), corev1.PodReady); c.Status != corev1.ConditionTrue {
		t.Fatalf("Ready with gate met = %+v", c)
	}
}
