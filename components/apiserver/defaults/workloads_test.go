package defaults

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func template() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
	}
}

// templateDefaulted reports whether the pod template spec defaults ran.
func templateDefaulted(t corev1.PodTemplateSpec) bool {
	return t.Spec.RestartPolicy == corev1.RestartPolicyAlways && t.Spec.Containers[0].ImagePullPolicy == corev1.PullIfNotPresent
}

// TestDefaults checks the values each defaulting function sets and that
// applying it twice equals applying it once.
func TestDefaults(t *testing.T) {
	tests := []struct {
		name  string
		obj   func() runtime.Object
		apply func(runtime.Object)
		check func(t *testing.T, obj runtime.Object)
	}{
		{
			name: "replication controller",
			obj: func() runtime.Object {
				tmpl := template()
				return &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: &tmpl}}
			},
			apply: func(o runtime.Object) { ReplicationController(o.(*corev1.ReplicationController)) },
			check: func(t *testing.T, o runtime.Object) {
				rc := o.(*corev1.ReplicationController)
				if *rc.Spec.Replicas != 1 || rc.Spec.Selector["app"] != "web" || rc.Labels["app"] != "web" || !templateDefaulted(*rc.Spec.Template) {
					t.Errorf("rc = %+v", rc)
				}
			},
		},
		{
			name:  "replica set",
			obj:   func() runtime.Object { return &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: template()}} },
			apply: func(o runtime.Object) { ReplicaSet(o.(*appsv1.ReplicaSet)) },
			check: func(t *testing.T, o runtime.Object) {
				rs := o.(*appsv1.ReplicaSet)
				if *rs.Spec.Replicas != 1 || rs.Spec.MinReadySeconds != 0 || !templateDefaulted(rs.Spec.Template) || rs.Labels != nil {
					t.Errorf("rs = %+v", rs)
				}
			},
		},
		{
			name:  "deployment",
			obj:   func() runtime.Object { return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: template()}} },
			apply: func(o runtime.Object) { Deployment(o.(*appsv1.Deployment)) },
			check: func(t *testing.T, o runtime.Object) {
				s := o.(*appsv1.Deployment).Spec
				ru := s.Strategy.RollingUpdate
				if *s.Replicas != 1 || s.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
					*ru.MaxSurge != intstr.FromString("25%") || *ru.MaxUnavailable != intstr.FromString("25%") ||
					*s.RevisionHistoryLimit != 10 || *s.ProgressDeadlineSeconds != 600 || !templateDefaulted(s.Template) {
					t.Errorf("spec = %+v", s)
				}
			},
		},
		{
			name: "recreate deployment gets no rolling update",
			obj: func() runtime.Object {
				return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: template(), Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}
			},
			apply: func(o runtime.Object) { Deployment(o.(*appsv1.Deployment)) },
			check: func(t *testing.T, o runtime.Object) {
				if o.(*appsv1.Deployment).Spec.Strategy.RollingUpdate != nil {
					t.Errorf("rollingUpdate set for Recreate")
				}
			},
		},
		{
			name:  "daemon set",
			obj:   func() runtime.Object { return &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: template()}} },
			apply: func(o runtime.Object) { DaemonSet(o.(*appsv1.DaemonSet)) },
			check: func(t *testing.T, o runtime.Object) {
				s := o.(*appsv1.DaemonSet).Spec
				ru := s.UpdateStrategy.RollingUpdate
				if s.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || *ru.MaxUnavailable != intstr.FromInt32(1) ||
					*ru.MaxSurge != intstr.FromInt32(0) || *s.RevisionHistoryLimit != 10 || !templateDefaulted(s.Template) {
					t.Errorf("spec = %+v", s)
				}
			},
		},
		{
			name:  "job",
			obj:   func() runtime.Object { return &batchv1.Job{Spec: batchv1.JobSpec{Template: template()}} },
			apply: func(o runtime.Object) { Job(o.(*batchv1.Job)) },
			check: func(t *testing.T, o runtime.Object) {
				j := o.(*batchv1.Job)
				s := j.Spec
				if *s.Completions != 1 || *s.Parallelism != 1 || *s.BackoffLimit != 6 || *s.CompletionMode != batchv1.NonIndexedCompletion ||
					*s.Suspend || *s.ManualSelector || *s.PodReplacementPolicy != batchv1.TerminatingOrFailed ||
					j.Labels["app"] != "web" || !templateDefaulted(s.Template) {
					t.Errorf("job = %+v", j)
				}
			},
		},
		{
			name: "job with parallelism only",
			obj: func() runtime.Object {
				return &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptr.To[int32](3), Template: template()}}
			},
			apply: func(o runtime.Object) { Job(o.(*batchv1.Job)) },
			check: func(t *testing.T, o runtime.Object) {
				s := o.(*batchv1.Job).Spec
				if s.Completions != nil || *s.Parallelism != 3 {
					t.Errorf("completions = %v parallelism = %d", s.Completions, *s.Parallelism)
				}
			},
		},
		{
			name: "job with pod failure policy and backoff per index",
			obj: func() runtime.Object {
				return &batchv1.Job{Spec: batchv1.JobSpec{Template: template(), BackoffLimitPerIndex: ptr.To[int32](1),
					PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
						Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
					}}}}}
			},
			apply: func(o runtime.Object) { Job(o.(*batchv1.Job)) },
			check: func(t *testing.T, o runtime.Object) {
				s := o.(*batchv1.Job).Spec
				if *s.PodReplacementPolicy != batchv1.Failed || *s.BackoffLimit != 2147483647 ||
					s.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != corev1.ConditionTrue {
					t.Errorf("spec = %+v", s)
				}
			},
		},
		{
			name: "node",
			obj: func() runtime.Object {
				return &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24"},
					Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}}
			},
			apply: func(o runtime.Object) { Node(o.(*corev1.Node)) },
			check: func(t *testing.T, o runtime.Object) {
				n := o.(*corev1.Node)
				if n.Status.Allocatable.Cpu().String() != "4" || len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != "10.244.1.0/24" {
					t.Errorf("node = %+v", n)
				}
			},
		},
		{
			name: "secret",
			obj: func() runtime.Object {
				return &corev1.Secret{Data: map[string][]byte{"a": []byte("1")}, StringData: map[string]string{"a": "2", "b": "3"}}
			},
			apply: func(o runtime.Object) { Secret(o.(*corev1.Secret)) },
			check: func(t *testing.T, o runtime.Object) {
				s := o.(*corev1.Secret)
				if s.Type != corev1.SecretTypeOpaque || string(s.Data["a"]) != "2" || string(s.Data["b"]) != "3" || s.StringData != nil {
					t.Errorf("secret = %+v", s)
				}
			},
		},
		{
			name: "endpoints",
			obj: func() runtime.Object {
				return &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}}}}}
			},
			apply: func(o runtime.Object) { Endpoints(o.(*corev1.Endpoints)) },
			check: func(t *testing.T, o runtime.Object) {
				if p := o.(*corev1.Endpoints).Subsets[0].Ports[0].Protocol; p != corev1.ProtocolTCP {
					t.Errorf("protocol = %q", p)
				}
			},
		},
		{
			name:  "namespace",
			obj:   func() runtime.Object { return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}} },
			apply: func(o runtime.Object) { Namespace(o.(*corev1.Namespace)) },
			check: func(t *testing.T, o runtime.Object) {
				if v := o.(*corev1.Namespace).Labels["kubernetes.io/metadata.name"]; v != "team-a" {
					t.Errorf("label = %q", v)
				}
			},
		},
		{
			name: "endpoint slice",
			obj: func() runtime.Object {
				return &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}}}
			},
			apply: func(o runtime.Object) { EndpointSlice(o.(*discoveryv1.EndpointSlice)) },
			check: func(t *testing.T, o runtime.Object) {
				p := o.(*discoveryv1.EndpointSlice).Ports[0]
				if *p.Name != "" || *p.Protocol != corev1.ProtocolTCP {
					t.Errorf("port = %+v", p)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := tt.obj()
			tt.apply(obj)
			tt.check(t, obj)
			again := obj.DeepCopyObject()
			tt.apply(again)
			if !apiequality.Semantic.DeepEqual(obj, again) {
				t.Errorf("not idempotent:\n%+v\n%+v", obj, again)
			}
		})
	}
}

func TestJobSelector(t *testing.T) {
	tests := []struct {
		name      string
		job       *batchv1.Job
		wantSel   map[string]string
		wantLabel map[string]string
	}{
		{
			name:    "generated",
			job:     &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"}, Spec: batchv1.JobSpec{Template: template()}},
			wantSel: map[string]string{"batch.kubernetes.io/controller-uid": "u1"},
			wantLabel: map[string]string{"app": "web", "controller-uid": "u1", "batch.kubernetes.io/controller-uid": "u1",
				"job-name": "pi", "batch.kubernetes.io/job-name": "pi"},
		},
		{
			name: "manual",
			job: &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"}, Spec: batchv1.JobSpec{ManualSelector: ptr.To(true),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: template()}},
			wantSel:   map[string]string{"app": "web"},
			wantLabel: map[string]string{"app": "web"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			JobSelector(tt.job)
			if !apiequality.Semantic.DeepEqual(tt.job.Spec.Selector.MatchLabels, tt.wantSel) {
				t.Errorf("selector = %v", tt.job.Spec.Selector.MatchLabels)
			}
			if !apiequality.Semantic.DeepEqual(tt.job.Spec.Template.Labels, tt.wantLabel) {
				t.Errorf("labels = %v", tt.job.Spec.Template.Labels)
			}
		})
	}
}
