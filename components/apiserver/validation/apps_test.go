package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kubelab/kubelab/components/apiserver/defaults"
)

const selectorMsg = "spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"

func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
	}
}

func TestValidateReplicationController(t *testing.T) {
	valid := func() *corev1.ReplicationController {
		tmpl := podTemplate()
		rc := &corev1.ReplicationController{ObjectMeta: meta("web"), Spec: corev1.ReplicationControllerSpec{Template: &tmpl}}
		defaults.ReplicationController(rc)
		return rc
	}
	tests := []struct {
		name   string
		mutate func(*corev1.ReplicationController)
		want   []want
		msg    string
	}{
		{name: "valid", mutate: func(*corev1.ReplicationController) {}},
		{name: "no selector", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Selector = nil }, want: []want{isRequired("spec.selector")}},
		{name: "selector mismatch", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Template.Labels = map[string]string{"app": "other"} },
			want: []want{isInvalid("spec.template.metadata.labels")}, msg: selectorMsg},
		{name: "negative replicas", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr.To[int32](-1) },
			want: []want{isInvalid("spec.replicas")}},
		{name: "no template", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Template = nil }, want: []want{isRequired("spec.template")}},
		{name: "restart never", mutate: func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		},
			want: []want{isNotSupported("spec.template.spec.restartPolicy")}},
		{name: "bad template container", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Template.Spec.Containers[0].Name = "" },
			want: []want{isRequired("spec.template.spec.containers[0].name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := valid()
			tt.mutate(rc)
			errs := ValidateReplicationController(rc)
			expect(t, errs, tt.want...)
			if tt.msg != "" {
				expectMessage(t, errs, tt.msg)
			}
			expect(t, ValidateReplicationControllerUpdate(rc, valid()), tt.want...)
		})
	}
}

func TestValidateDeployment(t *testing.T) {
	valid := func() *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: meta("web"), Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: podTemplate()}}
		defaults.Deployment(d)
		return d
	}
	zero := intstr.FromInt32(0)
	tests := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   []want
		msg    string
	}{
		{name: "valid", mutate: func(*appsv1.Deployment) {}},
		{name: "no selector", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			want: []want{isRequired("spec.selector"), isInvalid("spec.template.metadata.labels")}},
		{name: "empty selector", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			want: []want{isInvalid("spec.selector")}},
		{name: "selector mismatch", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "other"} },
			want: []want{isInvalid("spec.template.metadata.labels")}, msg: selectorMsg},
		{name: "negative replicas", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) }, want: []want{isInvalid("spec.replicas")}},
		{name: "surge and unavailable zero", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable = &zero, &zero
		}, want: []want{isInvalid("spec.strategy.rollingUpdate.maxUnavailable")}, msg: "may not be 0 when `maxSurge` is 0"},
		{name: "unavailable above 100%", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("150%"))
		},
			want: []want{isInvalid("spec.strategy.rollingUpdate.maxUnavailable")}},
		{name: "bad percentage", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("x%")) },
			want: []want{isInvalid("spec.strategy.rollingUpdate.maxSurge")}},
		{name: "recreate with rolling update", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			want: []want{isForbidden("spec.strategy.rollingUpdate")}},
		{name: "negative history", mutate: func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To[int32](-1) },
			want: []want{isInvalid("spec.revisionHistoryLimit")}},
		{name: "deadline below min ready", mutate: func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 600 },
			want: []want{isInvalid("spec.progressDeadlineSeconds")}, msg: "must be greater than minReadySeconds"},
		{name: "restart on failure", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
			want: []want{isNotSupported("spec.template.spec.restartPolicy")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := valid()
			tt.mutate(d)
			errs := ValidateDeployment(d)
			expect(t, errs, tt.want...)
			if tt.msg != "" {
				expectMessage(t, errs, tt.msg)
			}
		})
	}
	t.Run("selector immutable", func(t *testing.T) {
		old := valid()
		d := old.DeepCopy()
		d.Spec.Selector.MatchLabels["tier"] = "web"
		d.Spec.Template.Labels["tier"] = "web"
		errs := ValidateDeploymentUpdate(d, old)
		expect(t, errs, isInvalid("spec.selector"))
		expectMessage(t, errs, "field is immutable")
	})
	t.Run("image change", func(t *testing.T) {
		old := valid()
		d := old.DeepCopy()
		d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		expect(t, ValidateDeploymentUpdate(d, old))
	})
}

func TestValidateReplicaSet(t *testing.T) {
	valid := func() *appsv1.ReplicaSet {
		rs := &appsv1.ReplicaSet{ObjectMeta: meta("web-abc"), Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: podTemplate()}}
		defaults.ReplicaSet(rs)
		return rs
	}
	tests := []struct {
		name   string
		mutate func(*appsv1.ReplicaSet)
		want   []want
	}{
		{name: "valid", mutate: func(*appsv1.ReplicaSet) {}},
		{name: "no selector", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil },
			want: []want{isRequired("spec.selector"), isInvalid("spec.template.metadata.labels")}},
		{name: "selector mismatch", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Selector.MatchLabels["app"] = "api" },
			want: []want{isInvalid("spec.template.metadata.labels")}},
		{name: "bad selector operator", mutate: func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Maybe"}}
		}, want: []want{isInvalid("spec.selector.matchExpressions[0].operator"), isInvalid("spec.selector")}},
		{name: "negative min ready", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.MinReadySeconds = -1 }, want: []want{isInvalid("spec.minReadySeconds")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := valid()
			tt.mutate(rs)
			expect(t, ValidateReplicaSet(rs), tt.want...)
		})
	}
	t.Run("selector immutable, replicas mutable", func(t *testing.T) {
		old := valid()
		rs := old.DeepCopy()
		rs.Spec.Replicas = ptr.To[int32](5)
		expect(t, ValidateReplicaSetUpdate(rs, old))
		rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "x": "y"}}
		rs.Spec.Template.Labels["x"] = "y"
		expect(t, ValidateReplicaSetUpdate(rs, old), isInvalid("spec.selector"))
	})
}

func TestValidateDaemonSet(t *testing.T) {
	valid := func() *appsv1.DaemonSet {
		ds := &appsv1.DaemonSet{ObjectMeta: meta("agent"), Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: podTemplate()}}
		defaults.DaemonSet(ds)
		return ds
	}
	tests := []struct {
		name   string
		mutate func(*appsv1.DaemonSet)
		want   []want
	}{
		{name: "valid", mutate: func(*appsv1.DaemonSet) {}},
		{name: "selector mismatch", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Labels = nil },
			want: []want{isInvalid("spec.template.metadata.labels")}},
		{name: "empty selector", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} },
			want: []want{isInvalid("spec.selector")}},
		{name: "surge and unavailable", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(1))
		},
			want: []want{isInvalid("spec.updateStrategy.rollingUpdate.maxSurge")}},
		{name: "neither surge nor unavailable", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
		},
			want: []want{isRequired("spec.updateStrategy.rollingUpdate.maxUnavailable")}},
		{name: "bad strategy", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = "Sometimes" },
			want: []want{isNotSupported("spec.updateStrategy")}},
		{name: "deadline in template", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](10) },
			want: []want{isForbidden("spec.template.spec.activeDeadlineSeconds")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := valid()
			tt.mutate(ds)
			expect(t, ValidateDaemonSet(ds), tt.want...)
		})
	}
	t.Run("selector immutable", func(t *testing.T) {
		old := valid()
		ds := old.DeepCopy()
		ds.Spec.Selector.MatchLabels = map[string]string{"app": "web", "x": "y"}
		ds.Spec.Template.Labels["x"] = "y"
		expect(t, ValidateDaemonSetUpdate(ds, old), isInvalid("spec.selector"))
	})
}
