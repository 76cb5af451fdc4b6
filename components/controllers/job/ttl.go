package job

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// handleTTL deletes a finished job ttlSecondsAfterFinished after it
// finished (with background propagation, so its pods follow), or requeues
// it for then. This is upstream's ttl-after-finished controller folded into
// the job controller.
func (jm *Controller) handleTTL(ctx context.Context, key string, job *batchv1.Job) error {
	wait, ok := ttlRemaining(job, jm.now())
	if !ok {
		return nil
	}
	if wait > 0 {
		jm.queue.AddAfter(key, wait)
		return nil
	}
	// The cache may be stale (the TTL was just raised): decide on the
	// latest object and delete exactly that version.
	fresh, err := jm.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get job %s: %w", key, err)
	}
	if fresh.UID != job.UID || fresh.DeletionTimestamp != nil {
		return nil
	}
	if wait, ok := ttlRemaining(fresh, jm.now()); !ok || wait > 0 {
		if ok {
			jm.queue.AddAfter(key, wait)
		}
		return nil
	}
	background := metav1.DeletePropagationBackground
	err = jm.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{
		PropagationPolicy: &background,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete expired job %s: %w", key, err)
	}
	jm.log.Info("deleted finished job after its TTL", "job", key)
	return nil
}

// ttlRemaining returns how long until a finished job expires, and whether
// it has a TTL at all.
func ttlRemaining(job *batchv1.Job, now time.Time) (time.Duration, bool) {
	if job.Spec.TTLSecondsAfterFinished == nil || !isFinished(job) {
		return 0, false
	}
	var finishedAt time.Time
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			finishedAt = c.LastTransitionTime.Time
		}
	}
	if job.Status.CompletionTime != nil && finishedAt.IsZero() {
		finishedAt = job.Status.CompletionTime.Time
	}
	expireAt := finishedAt.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	return expireAt.Sub(now), true
}
