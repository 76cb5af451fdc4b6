package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ago returns a timestamp d before now, a little earlier so that ages
// round to d.
func ago(d time.Duration) metav1.Time {
	return metav1.NewTime(time.Now().Add(-d - 500*time.Millisecond))
}

func ptr[T any](v T) *T { return &v }

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
}

func terminated(reason string, exitCode, signal int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode, Signal: signal}}
}

// finished is a previous termination that ended d ago.
func finished(d time.Duration) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, FinishedAt: ago(d)}}
}

func condition(t corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: s}
}

func TestPodRowStatus(t *testing.T) {
	oneContainer := corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}
	twoContainers := corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}}
	withInit := corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init1"}, {Name: "init2"}},
		Containers:     []corev1.Container{{Name: "app"}},
	}
	withSidecar := corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "sidecar", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)}},
		Containers:     []corev1.Container{{Name: "app"}},
	}
	deleted := ptr(metav1.Now())

	tests := []struct {
		name                    string
		spec                    corev1.PodSpec
		status                  corev1.PodStatus
		deletion                *metav1.Time
		ready, reason, restarts string
	}{
		{
			name: "pending without statuses", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodPending},
			ready:  "0/1", reason: "Pending", restarts: "0",
		},
		{
			name: "container creating", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: waiting("ContainerCreating")}}},
			ready:  "0/1", reason: "ContainerCreating", restarts: "0",
		},
		{
			name: "running and ready", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}}},
			ready:  "1/1", reason: "Running", restarts: "0",
		},
		{
			name: "running not ready", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: running()}}},
			ready:  "0/1", reason: "Running", restarts: "0",
		},
		{
			name: "crash loop with last restart", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
				Name: "app", RestartCount: 5, State: waiting("CrashLoopBackOff"), LastTerminationState: finished(5 * time.Minute),
			}}},
			ready: "0/1", reason: "CrashLoopBackOff", restarts: "5 (5m ago)",
		},
		{
			name: "restarts without last state have no suffix", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 2, Ready: true, State: running()}}},
			ready:  "1/1", reason: "Running", restarts: "2",
		},
		{
			name: "restarts summed, latest restart shown", spec: twoContainers,
			status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", RestartCount: 2, Ready: true, State: running(), LastTerminationState: finished(time.Hour)},
				{Name: "b", RestartCount: 3, Ready: true, State: running(), LastTerminationState: finished(3 * time.Minute)},
			}},
			ready: "2/2", reason: "Running", restarts: "5 (3m ago)",
		},
		{
			name: "completed", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: terminated("Completed", 0, 0)}}},
			ready:  "0/1", reason: "Completed", restarts: "0",
		},
		{
			name: "error", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: terminated("Error", 1, 0)}}},
			ready:  "0/1", reason: "Error", restarts: "0",
		},
		{
			name: "terminated by signal without reason", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: terminated("", 137, 9)}}},
			ready:  "0/1", reason: "Signal:9", restarts: "0",
		},
		{
			name: "terminated with exit code without reason", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: terminated("", 2, 0)}}},
			ready:  "0/1", reason: "ExitCode:2", restarts: "0",
		},
		{
			name: "completed beside a running ready container", spec: twoContainers,
			status: corev1.PodStatus{
				Phase:             corev1.PodRunning,
				Conditions:        []corev1.PodCondition{condition(corev1.PodReady, corev1.ConditionTrue)},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "a", State: terminated("Completed", 0, 0)}, {Name: "b", Ready: true, State: running()}},
			},
			ready: "1/2", reason: "Running", restarts: "0",
		},
		{
			name: "completed beside a running container, pod not ready", spec: twoContainers,
			status: corev1.PodStatus{
				Phase:             corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{{Name: "a", State: terminated("Completed", 0, 0)}, {Name: "b", Ready: true, State: running()}},
			},
			ready: "1/2", reason: "NotReady", restarts: "0",
		},
		{
			name: "completed beside a failed container", spec: twoContainers,
			status: corev1.PodStatus{
				Phase:             corev1.PodFailed,
				ContainerStatuses: []corev1.ContainerStatus{{Name: "a", State: terminated("Completed", 0, 0)}, {Name: "b", State: terminated("Error", 1, 0)}},
			},
			ready: "0/2", reason: "Error", restarts: "0",
		},
		{
			name: "init waiting to start", spec: withInit,
			status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "init1", State: waiting("PodInitializing")}, {Name: "init2", State: waiting("PodInitializing")},
			}},
			ready: "0/1", reason: "Init:0/2", restarts: "0",
		},
		{
			name: "second init running", spec: withInit,
			status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "init1", State: terminated("Completed", 0, 0)}, {Name: "init2", State: running()},
			}},
			ready: "0/1", reason: "Init:1/2", restarts: "0",
		},
		{
			name: "init error", spec: withInit,
			status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "init1", State: terminated("Error", 1, 0)}, {Name: "init2", State: waiting("PodInitializing")},
			}},
			ready: "0/1", reason: "Init:Error", restarts: "0",
		},
		{
			name: "init exit code without reason", spec: withInit,
			status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "init1", State: terminated("", 3, 0)},
			}},
			ready: "0/1", reason: "Init:ExitCode:3", restarts: "0",
		},
		{
			name: "init crash loop counts init restarts", spec: withInit,
			status: corev1.PodStatus{
				Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{{
					Name: "init1", RestartCount: 3, State: waiting("CrashLoopBackOff"), LastTerminationState: finished(2 * time.Minute),
				}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}},
			},
			ready: "0/1", reason: "Init:CrashLoopBackOff", restarts: "3 (2m ago)",
		},
		{
			name: "pod initializing", spec: withInit,
			status: corev1.PodStatus{
				Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "init1", State: terminated("Completed", 0, 0)}, {Name: "init2", State: terminated("Completed", 0, 0)},
				},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}},
			},
			ready: "0/1", reason: "PodInitializing", restarts: "0",
		},
		{
			name: "started sidecar counts as ready container", spec: withSidecar,
			status: corev1.PodStatus{
				Phase:                 corev1.PodRunning,
				Conditions:            []corev1.PodCondition{condition(corev1.PodInitialized, corev1.ConditionTrue)},
				InitContainerStatuses: []corev1.ContainerStatus{{Name: "sidecar", Started: ptr(true), Ready: true, RestartCount: 1, State: running(), LastTerminationState: finished(10 * time.Minute)}},
				ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}},
			},
			ready: "2/2", reason: "Running", restarts: "1 (10m ago)",
		},
		{
			name: "terminating", spec: oneContainer, deletion: deleted,
			status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}}},
			ready:  "1/1", reason: "Terminating", restarts: "0",
		},
		{
			name: "deleted terminal pod keeps its status", spec: oneContainer, deletion: deleted,
			status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: terminated("Completed", 0, 0)}}},
			ready:  "0/1", reason: "Completed", restarts: "0",
		},
		{
			name: "node lost", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost"},
			ready:  "0/1", reason: "NodeLost", restarts: "0",
		},
		{
			name: "node lost and deleted", spec: oneContainer, deletion: deleted,
			status: corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost"},
			ready:  "0/1", reason: "Unknown", restarts: "0",
		},
		{
			name: "evicted", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"},
			ready:  "0/1", reason: "Evicted", restarts: "0",
		},
		{
			name: "scheduling gated", spec: oneContainer,
			status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated,
			}}},
			ready: "0/1", reason: "SchedulingGated", restarts: "0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: ago(time.Hour), DeletionTimestamp: tt.deletion},
				Spec:       tt.spec,
				Status:     tt.status,
			}
			row := PodRow(pod)
			if got := row[1]; got != tt.ready {
				t.Errorf("READY = %v, want %v", got, tt.ready)
			}
			if got := row[2]; got != tt.reason {
				t.Errorf("STATUS = %v, want %v", got, tt.reason)
			}
			if got := row[3]; got != tt.restarts {
				t.Errorf("RESTARTS = %v, want %v", got, tt.restarts)
			}
		})
	}
}

func TestPodRowWide(t *testing.T) {
	tests := []struct {
		name string
		pod  corev1.Pod
		want []interface{}
	}{
		{
			name: "unscheduled",
			pod:  corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: ago(2 * time.Minute)}},
			want: []interface{}{"p", "0/0", "", "0", "2m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "scheduled with readiness gates",
			pod: corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: ago(2 * time.Minute)},
				Spec: corev1.PodSpec{
					NodeName:       "node-1",
					ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "a"}, {ConditionType: "b"}},
				},
				Status: corev1.PodStatus{
					Phase:             corev1.PodRunning,
					PodIP:             "10.244.1.2",
					PodIPs:            []corev1.PodIP{{IP: "10.244.1.2"}, {IP: "fd00::2"}},
					NominatedNodeName: "node-2",
					Conditions:        []corev1.PodCondition{condition("a", corev1.ConditionTrue), condition("b", corev1.ConditionFalse)},
				},
			},
			want: []interface{}{"p", "0/0", "Running", "0", "2m", "10.244.1.2", "node-1", "node-2", "1/2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertRow(t, PodRow(&tt.pod), tt.want)
		})
	}
}

func TestPodFields(t *testing.T) {
	pod := &corev1.Pod{
		Spec: corev1.PodSpec{
			NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, SchedulerName: "default-scheduler",
			ServiceAccountName: "default", HostNetwork: true,
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", NominatedNodeName: "n2"},
	}
	want := map[string]string{
		"spec.nodeName": "n1", "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
		"spec.serviceAccountName": "default", "spec.hostNetwork": "true", "status.phase": "Running",
		"status.podIP": "10.0.0.1", "status.nominatedNodeName": "n2",
	}
	assertFields(t, PodFields(pod), want)
}
