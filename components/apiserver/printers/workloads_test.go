package printers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func jobCondition(t batchv1.JobConditionType, s corev1.ConditionStatus) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: s}
}

func TestJobRow(t *testing.T) {
	start := ago(10 * time.Minute)
	done := metav1.NewTime(start.Add(90 * time.Second))
	tests := []struct {
		name                         string
		spec                         batchv1.JobSpec
		status                       batchv1.JobStatus
		deletion                     *metav1.Time
		state, completions, duration string
	}{
		{
			name:  "not started",
			spec:  batchv1.JobSpec{Completions: ptr(int32(1)), Parallelism: ptr(int32(1))},
			state: "Running", completions: "0/1", duration: "",
		},
		{
			name:   "running",
			spec:   batchv1.JobSpec{Completions: ptr(int32(3)), Parallelism: ptr(int32(1))},
			status: batchv1.JobStatus{StartTime: &start, Succeeded: 1},
			state:  "Running", completions: "1/3", duration: "10m",
		},
		{
			name:   "complete",
			spec:   batchv1.JobSpec{Completions: ptr(int32(1))},
			status: batchv1.JobStatus{StartTime: &start, CompletionTime: &done, Succeeded: 1, Conditions: []batchv1.JobCondition{jobCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue), jobCondition(batchv1.JobComplete, corev1.ConditionTrue)}},
			state:  "Complete", completions: "1/1", duration: "90s",
		},
		{
			name:   "failed",
			spec:   batchv1.JobSpec{Completions: ptr(int32(1))},
			status: batchv1.JobStatus{StartTime: &start, Failed: 7, Conditions: []batchv1.JobCondition{jobCondition(batchv1.JobFailureTarget, corev1.ConditionTrue), jobCondition(batchv1.JobFailed, corev1.ConditionTrue)}},
			state:  "Failed", completions: "0/1", duration: "10m",
		},
		{
			name:   "failure target",
			spec:   batchv1.JobSpec{Completions: ptr(int32(1))},
			status: batchv1.JobStatus{StartTime: &start, Conditions: []batchv1.JobCondition{jobCondition(batchv1.JobFailureTarget, corev1.ConditionTrue)}},
			state:  "FailureTarget", completions: "0/1", duration: "10m",
		},
		{
			name:   "success criteria met",
			spec:   batchv1.JobSpec{Completions: ptr(int32(2))},
			status: batchv1.JobStatus{StartTime: &start, Succeeded: 2, Conditions: []batchv1.JobCondition{jobCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue)}},
			state:  "SuccessCriteriaMet", completions: "2/2", duration: "10m",
		},
		{
			name:   "suspended",
			spec:   batchv1.JobSpec{Completions: ptr(int32(1)), Suspend: ptr(true)},
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{jobCondition(batchv1.JobSuspended, corev1.ConditionTrue)}},
			state:  "Suspended", completions: "0/1", duration: "",
		},
		{
			name:   "resumed after suspension",
			spec:   batchv1.JobSpec{Completions: ptr(int32(1))},
			status: batchv1.JobStatus{StartTime: &start, Conditions: []batchv1.JobCondition{jobCondition(batchv1.JobSuspended, corev1.ConditionFalse)}},
			state:  "Running", completions: "0/1", duration: "10m",
		},
		{
			name:     "terminating",
			spec:     batchv1.JobSpec{Completions: ptr(int32(1))},
			status:   batchv1.JobStatus{StartTime: &start, Conditions: []batchv1.JobCondition{jobCondition(batchv1.JobSuspended, corev1.ConditionTrue)}},
			deletion: ptr(metav1.Now()),
			state:    "Terminating", completions: "0/1", duration: "10m",
		},
		{
			name:   "work queue with parallelism",
			spec:   batchv1.JobSpec{Parallelism: ptr(int32(4))},
			status: batchv1.JobStatus{StartTime: &start, Succeeded: 0},
			state:  "Running", completions: "0/1 of 4", duration: "10m",
		},
		{
			name:  "work queue without parallelism",
			spec:  batchv1.JobSpec{},
			state: "Running", completions: "0/1", duration: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "u"}}
			tt.spec.Template.Spec.Containers = []corev1.Container{{Name: "pi", Image: "perl:5"}}
			job := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: "j", CreationTimestamp: ago(11 * time.Minute), DeletionTimestamp: tt.deletion},
				Spec:       tt.spec, Status: tt.status,
			}
			assertRow(t, JobRow(job), []interface{}{"j", tt.state, tt.completions, tt.duration, "11m", "pi", "perl:5", "batch.kubernetes.io/controller-uid=u"})
		})
	}
}

func TestDeploymentRow(t *testing.T) {
	template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}, {Name: "log", Image: "busybox"}}}}
	tests := []struct {
		name   string
		spec   appsv1.DeploymentSpec
		status appsv1.DeploymentStatus
		want   []interface{}
	}{
		{
			name:   "rolled out",
			spec:   appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: template},
			status: appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3},
			want:   []interface{}{"d", "3/3", int64(3), int64(3), "2d", "web,log", "nginx,busybox", "app=web"},
		},
		{
			name:   "rolling",
			spec:   appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: template},
			status: appsv1.DeploymentStatus{Replicas: 4, ReadyReplicas: 2, UpdatedReplicas: 1, AvailableReplicas: 2},
			want:   []interface{}{"d", "2/3", int64(1), int64(2), "2d", "web,log", "nginx,busybox", "app=web"},
		},
		{
			name: "scaled to zero, expression selector",
			spec: appsv1.DeploymentSpec{Replicas: ptr(int32(0)), Template: template, Selector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}},
			}},
			want: []interface{}{"d", "0/0", int64(0), int64(0), "2d", "web,log", "nginx,busybox", "tier in (a,b)"},
		},
		{
			name: "invalid selector",
			spec: appsv1.DeploymentSpec{Replicas: ptr(int32(1)), Template: template, Selector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Bogus"}},
			}},
			want: []interface{}{"d", "0/1", int64(0), int64(0), "2d", "web,log", "nginx,busybox", "<invalid>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", CreationTimestamp: ago(48 * time.Hour)}, Spec: tt.spec, Status: tt.status}
			assertRow(t, DeploymentRow(d), tt.want)
		})
	}
}

func TestReplicaRows(t *testing.T) {
	template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers:   []corev1.Container{{Name: "web", Image: "nginx"}},
		NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
	}}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	meta := metav1.ObjectMeta{Name: "x", CreationTimestamp: ago(4 * time.Minute)}
	tests := []struct {
		name string
		got  []interface{}
		want []interface{}
	}{
		{
			name: "replicaset",
			got: ReplicaSetRow(&appsv1.ReplicaSet{ObjectMeta: meta,
				Spec:   appsv1.ReplicaSetSpec{Replicas: ptr(int32(2)), Selector: selector, Template: template},
				Status: appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1}}),
			want: []interface{}{"x", int64(2), int64(2), int64(1), "4m", "web", "nginx", "app=web"},
		},
		{
			name: "replicaset without selector",
			got:  ReplicaSetRow(&appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(0))}}),
			want: []interface{}{"x", int64(0), int64(0), int64(0), "4m", "", "", "<none>"},
		},
		{
			name: "replication controller",
			got: ReplicationControllerRow(&corev1.ReplicationController{ObjectMeta: meta,
				Spec:   corev1.ReplicationControllerSpec{Replicas: ptr(int32(3)), Selector: map[string]string{"app": "web"}, Template: &template},
				Status: corev1.ReplicationControllerStatus{Replicas: 3, ReadyReplicas: 3}}),
			want: []interface{}{"x", int64(3), int64(3), int64(3), "4m", "web", "nginx", "app=web"},
		},
		{
			name: "replication controller without template",
			got:  ReplicationControllerRow(&corev1.ReplicationController{ObjectMeta: meta}),
			want: []interface{}{"x", int64(1), int64(0), int64(0), "4m", "", "", "<none>"},
		},
		{
			name: "daemonset",
			got: DaemonSetRow(&appsv1.DaemonSet{ObjectMeta: meta,
				Spec: appsv1.DaemonSetSpec{Selector: selector, Template: template},
				Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2,
					UpdatedNumberScheduled: 3, NumberAvailable: 2}}),
			want: []interface{}{"x", int64(3), int64(3), int64(2), int64(3), int64(2), "kubernetes.io/os=linux", "4m", "web", "nginx", "app=web"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assertRow(t, tt.got, tt.want) })
	}
}
