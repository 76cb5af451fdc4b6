package validation

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubelab/kubelab/components/apiserver/defaults"
)

// validJob is a job as `kubectl create job pi --image=perl` leaves it after
// the API server's create preparation and defaulting.
func validJob(mutate func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "0b7e2a4c-uid", ResourceVersion: "1"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "pi", Image: "perl:5.34"}},
		}}},
	}
	if mutate != nil {
		mutate(j)
	}
	defaults.JobSelector(j)
	defaults.Job(j)
	return j
}

func TestValidateJob(t *testing.T) {
	tests := []struct {
		name   string
		pre    func(*batchv1.Job)
		mutate func(*batchv1.Job)
		want   []want
		msg    string
	}{
		{name: "valid"},
		{name: "manual selector", pre: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
			j.Spec.Template.Labels = map[string]string{"app": "pi"}
		}},
		{name: "manual selector mismatch", pre: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
		}, want: []want{isInvalid("spec.template.metadata.labels")}},
		{name: "manual selector missing", pre: func(j *batchv1.Job) { j.Spec.ManualSelector = ptr.To(true) },
			want: []want{isRequired("spec.selector"), isInvalid("spec.template.metadata.labels")}},
		{name: "restart always", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			want: []want{isRequired("spec.template.spec.restartPolicy")}, msg: `valid values: "OnFailure", "Never"`},
		{name: "conflicting job-name label", pre: func(j *batchv1.Job) { j.Spec.Template.Labels = map[string]string{"job-name": "other"} },
			want: []want{isInvalid("spec.template.metadata.labels[job-name]")}, msg: "must be 'pi'"},
		{name: "negative parallelism", mutate: func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](-1) },
			want: []want{isInvalid("spec.parallelism")}},
		{name: "negative backoff", mutate: func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](-1) },
			want: []want{isInvalid("spec.backoffLimit")}},
		{name: "bad completion mode", mutate: func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To[batchv1.CompletionMode]("Sometimes") },
			want: []want{isNotSupported("spec.completionMode")}},
		{name: "indexed without completions", pre: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Parallelism = ptr.To[int32](2)
		}, want: []want{isRequired("spec.completions")}},
		{name: "backoff per index needs indexed", mutate: func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptr.To[int32](1) },
			want: []want{isInvalid("spec.backoffLimitPerIndex")}},
		{name: "pod failure policy needs Never", pre: func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
			}}}
		}, want: []want{isInvalid("spec.template.spec.restartPolicy")}},
		{name: "pod failure policy rule", pre: func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      "Explode",
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3, 0, 3}},
			}}}
		}, want: []want{
			isNotSupported("spec.podFailurePolicy.rules[0].action"),
			isInvalid("spec.podFailurePolicy.rules[0].onExitCodes.values[1]"),
			isDuplicate("spec.podFailurePolicy.rules[0].onExitCodes.values[2]"),
			isInvalid("spec.podFailurePolicy.rules[0].onExitCodes.values"),
		}},
		{name: "indexed name too long for pods", pre: func(j *batchv1.Job) {
			j.Name = "job.with.dots"
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](3)
		}, want: []want{isInvalid("metadata.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob(tt.pre)
			if tt.mutate != nil {
				tt.mutate(j)
			}
			errs := ValidateJob(j)
			expect(t, errs, tt.want...)
			if tt.msg != "" {
				expectMessage(t, errs, tt.msg)
			}
		})
	}
}

func TestValidateJobUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(*batchv1.Job)
		mutate func(*batchv1.Job)
		want   []want
	}{
		{name: "suspend and parallelism", mutate: func(j *batchv1.Job) {
			j.Spec.Suspend = ptr.To(true)
			j.Spec.Parallelism = ptr.To[int32](3)
		}},
		{name: "selector changed", mutate: func(j *batchv1.Job) {
			j.Spec.Selector.MatchLabels["extra"] = "x"
			j.Spec.Template.Labels["extra"] = "x"
		}, want: []want{isInvalid("spec.selector"), isInvalid("spec.selector"), isInvalid("spec.template")}},
		{name: "completions changed", mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](2) },
			want: []want{isInvalid("spec.completions")}},
		{name: "indexed completions scaled with parallelism", old: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](2)
			j.Spec.Parallelism = ptr.To[int32](2)
		}, mutate: func(j *batchv1.Job) {
			j.Spec.Completions = ptr.To[int32](4)
			j.Spec.Parallelism = ptr.To[int32](4)
		}},
		{name: "indexed completions alone", old: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](2)
			j.Spec.Parallelism = ptr.To[int32](2)
		}, mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](4) }, want: []want{isInvalid("spec.completions")}},
		{name: "template image changed", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:5.36" },
			want: []want{isInvalid("spec.template")}},
		{name: "suspended job gets a node selector", old: func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) },
			mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"} }},
		{name: "completion mode changed", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		}, want: []want{isInvalid("spec.completionMode")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validJob(tt.old)
			j := old.DeepCopy()
			tt.mutate(j)
			expect(t, ValidateJobUpdate(j, old), tt.want...)
		})
	}
}
