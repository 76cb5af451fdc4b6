package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubelab/kubelab/components/kubelet/hollow"
)

// job is a Job whose pods' containers exit with code after seconds.
func job(name string, completions, parallelism, backoffLimit int32, code, seconds string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Completions: ptr.To(completions), Parallelism: ptr.To(parallelism), BackoffLimit: ptr.To(backoffLimit),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
					hollow.AnnotationExitCode: code, hollow.AnnotationRunSeconds: seconds,
				}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: container("task:1")},
			},
		},
	}
}

// waitJobCondition waits until the job has condition cond true and
// returns it.
func (cl *cluster) waitJobCondition(t *testing.T, ns, name string, cond batchv1.JobConditionType, timeout time.Duration) *batchv1.Job {
	t.Helper()
	var j *batchv1.Job
	waitForWithin(t, timeout, fmt.Sprintf("job %s %s", name, cond), func(ctx context.Context) (bool, string) {
		var err error
		if j, err = cl.c.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		for _, c := range j.Status.Conditions {
			if c.Type == cond && c.Status == corev1.ConditionTrue {
				return true, ""
			}
		}
		return false, fmt.Sprintf("status %+v", j.Status)
	})
	return j
}

// podPhases counts pods by phase.
func podPhases(pods []*corev1.Pod) map[corev1.PodPhase]int {
	out := map[corev1.PodPhase]int{}
	for _, p := range pods {
		out[p.Status.Phase]++
	}
	return out
}

// TestJobs runs two Jobs side by side on hollow nodes: one of five
// completions, two at a time, completes; one whose pods all exit 1 fails
// after exactly backoffLimit+1 = 3 pod failures (its backoff, 10s then
// 20s as upstream's, makes this the longest test).
func TestJobs(t *testing.T) {
	cl := startCluster(t, 3)
	ctx := t.Context()
	ns := cl.namespace(t, "jobs")
	okPods := cl.observePods(t, ns, "batch.kubernetes.io/job-name=ok", atMostActive(2))
	badPods := cl.observePods(t, ns, "batch.kubernetes.io/job-name=bad", atMostActive(1))
	start := time.Now()
	if _, err := cl.c.BatchV1().Jobs(ns).Create(ctx, job("ok", 5, 2, 6, "0", "1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.c.BatchV1().Jobs(ns).Create(ctx, job("bad", 1, 1, 2, "1", "0"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("completions=5 parallelism=2 completes", func(t *testing.T) {
		j := cl.waitJobCondition(t, ns, "ok", batchv1.JobComplete, waitTimeout)
		t.Logf("complete in %v", time.Since(start).Round(time.Millisecond))
		if s := j.Status; s.Succeeded != 5 || s.Failed != 0 || s.Active != 0 || s.CompletionTime == nil {
			t.Errorf("status %+v, want 5 succeeded, none failed or active, a completion time", s)
		}
		okPods.catchUp(t)
		okPods.assertNoViolations(t)
		if got := podPhases(okPods.everSeen()); got[corev1.PodSucceeded] != 5 || len(okPods.everSeen()) != 5 {
			t.Errorf("pods by phase %v, want exactly 5, all succeeded", got)
		}
	})

	t.Run("backoffLimit=2 fails after 3 pod failures", func(t *testing.T) {
		j := cl.waitJobCondition(t, ns, "bad", batchv1.JobFailed, 50*time.Second)
		t.Logf("failed in %v", time.Since(start).Round(time.Millisecond))
		var reason string
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed {
				reason = c.Reason
			}
		}
		if reason != "BackoffLimitExceeded" {
			t.Errorf("Failed reason %q, want BackoffLimitExceeded", reason)
		}
		if s := j.Status; s.Failed != 3 || s.Succeeded != 0 || s.Active != 0 {
			t.Errorf("status %+v, want 3 failed, none succeeded or active", s)
		}
		consistently(t, 2*time.Second, "no pod created after the job failed", func(ctx context.Context) (bool, string) {
			pods, err := cl.listPods(ctx, ns, "batch.kubernetes.io/job-name=bad")
			return err == nil && len(pods) == 3, describePods(pods)
		})
		badPods.catchUp(t)
		badPods.assertNoViolations(t)
		if got := podPhases(badPods.everSeen()); got[corev1.PodFailed] != 3 || len(badPods.everSeen()) != 3 {
			t.Errorf("pods by phase %v, want exactly 3, all failed", got)
		}
	})
}
