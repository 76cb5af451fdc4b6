package defaults

import (
	"maps"
	"math"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels the job API server puts on the pods of a job whose selector it
// generates; the unprefixed ones are kept for compatibility.
const (
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
)

// ReplicationController defaults a replication controller: one replica and,
// when the template has labels, the selector and the controller's own
// labels taken from them.
func ReplicationController(rc *corev1.ReplicationController) {
	if rc.Spec.Template != nil {
		if labels := rc.Spec.Template.Labels; labels != nil {
			if len(rc.Spec.Selector) == 0 {
				rc.Spec.Selector = maps.Clone(labels)
			}
			if len(rc.Labels) == 0 {
				rc.Labels = maps.Clone(labels)
			}
		}
		PodTemplateSpec(rc.Spec.Template)
	}
	replicas(&rc.Spec.Replicas)
}

// ReplicaSet defaults a replica set: one replica and the template defaults.
func ReplicaSet(rs *appsv1.ReplicaSet) {
	replicas(&rs.Spec.Replicas)
	PodTemplateSpec(&rs.Spec.Template)
}

// Deployment defaults a deployment as apps/v1 does: one replica, a rolling
// update with 25% surge and 25% unavailable, ten old revisions kept and a
// ten minute progress deadline.
func Deployment(d *appsv1.Deployment) {
	spec := &d.Spec
	replicas(&spec.Replicas)
	if spec.Strategy.Type == "" {
		spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if spec.Strategy.RollingUpdate == nil {
			spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		ru := spec.Strategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			v := intstr.FromString("25%")
			ru.MaxUnavailable = &v
		}
		if ru.MaxSurge == nil {
			v := intstr.FromString("25%")
			ru.MaxSurge = &v
		}
	}
	int32Default(&spec.RevisionHistoryLimit, 10)
	int32Default(&spec.ProgressDeadlineSeconds, 600)
	PodTemplateSpec(&spec.Template)
}

// DaemonSet defaults a daemon set: a rolling update replacing one node at a
// time without surge, and ten old revisions kept.
func DaemonSet(ds *appsv1.DaemonSet) {
	spec := &ds.Spec
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		ru := spec.UpdateStrategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			v := intstr.FromInt32(1)
			ru.MaxUnavailable = &v
		}
		if ru.MaxSurge == nil {
			v := intstr.FromInt32(0)
			ru.MaxSurge = &v
		}
	}
	int32Default(&spec.RevisionHistoryLimit, 10)
	PodTemplateSpec(&spec.Template)
}

// Job defaults a job as batch/v1 does. Completions and parallelism are both
// 1 only when both are unset; otherwise parallelism alone defaults to 1.
func Job(j *batchv1.Job) {
	spec := &j.Spec
	if spec.Completions == nil && spec.Parallelism == nil {
		int32Default(&spec.Completions, 1)
	}
	int32Default(&spec.Parallelism, 1)
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			int32Default(&spec.BackoffLimit, math.MaxInt32)
		} else {
			int32Default(&spec.BackoffLimit, 6)
		}
	}
	if labels := spec.Template.Labels; labels != nil && len(j.Labels) == 0 {
		j.Labels = maps.Clone(labels)
	}
	if spec.CompletionMode == nil {
		mode := batchv1.NonIndexedCompletion
		spec.CompletionMode = &mode
	}
	boolDefault(&spec.Suspend, false)
	if spec.PodFailurePolicy != nil {
		for _, rule := range spec.PodFailurePolicy.Rules {
			for i := range rule.OnPodConditions {
				if rule.OnPodConditions[i].Status == "" {
					rule.OnPodConditions[i].Status = corev1.ConditionTrue
				}
			}
		}
	}
	if spec.PodReplacementPolicy == nil {
		policy := batchv1.TerminatingOrFailed
		if spec.PodFailurePolicy != nil {
			policy = batchv1.Failed
		}
		spec.PodReplacementPolicy = &policy
	}
	boolDefault(&spec.ManualSelector, false)
	PodTemplateSpec(&spec.Template)
}

// JobSelector generates the selector of a new job unless the user asked to
// manage it (spec.manualSelector: true): the template gets the job-name and
// controller-uid labels, prefixed and unprefixed, and the selector matches
// batch.kubernetes.io/controller-uid. Labels the user already set are kept
// (validation then rejects a mismatch). The job's name and uid must be set.
func JobSelector(j *batchv1.Job) {
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return
	}
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	labels := j.Spec.Template.Labels
	for _, key := range []string{legacyJobNameLabel, batchv1.JobNameLabel} {
		if _, ok := labels[key]; !ok {
			labels[key] = j.Name
		}
	}
	for _, key := range []string{legacyControllerUIDLabel, batchv1.ControllerUidLabel} {
		if _, ok := labels[key]; !ok {
			labels[key] = string(j.UID)
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(j.UID)
	}
}

func replicas(r **int32) { int32Default(r, 1) }

func int32Default(p **int32, v int32) {
	if *p == nil {
		*p = &v
	}
}

func boolDefault(p **bool, v bool) {
	if *p == nil {
		*p = &v
	}
}
