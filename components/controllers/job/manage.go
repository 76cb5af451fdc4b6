package job

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/controllers/ownership"
)

// manageJob creates or deletes pods so that as many run as the job wants
// now: all deleted while suspended, otherwise min(parallelism, remaining
// completions) (a job without completions keeps parallelism pods until
// the first success). Creation waits out the failure backoff. It returns
// the number of active pods after its actions.
func (jm *Controller) manageJob(ctx context.Context, key string, jc *jobCtx) (int32, error) {
	job := jc.job
	active := int32(len(jc.active))
	if suspended(job) {
		del := activePodsForRemoval(job, jc.active, jc.succeededIdx, len(jc.active))
		jm.expectations.Expect(key, 0, len(del))
		ready, removed, err := jm.deleteJobPods(ctx, job, key, del)
		jc.terminating += removed
		jc.ready -= ready
		return active - removed, err
	}
	parallelism := *job.Spec.Parallelism
	var want int32
	switch {
	case job.Spec.Completions == nil && jc.succeeded > 0:
		want = active // leave the rest running to their end
	case job.Spec.Completions == nil:
		want = parallelism
	default:
		want = max(0, min(*job.Spec.Completions-jc.succeeded, parallelism))
	}
	del := activePodsForRemoval(job, jc.active, jc.succeededIdx, int(max(0, active-want)))
	if len(del) > 0 {
		del = del[:min(len(del), maxPodCreateDeletePerSync)]
		jm.expectations.Expect(key, 0, len(del))
		ready, removed, err := jm.deleteJobPods(ctx, job, key, del)
		jc.terminating += removed
		jc.ready -= ready
		return active - removed, err
	}
	diff := want - active
	if diff <= 0 {
		return active, nil
	}
	if wait := jc.backoff.remaining(jm.now()); wait > 0 {
		jm.queue.AddAfter(key, wait)
		return active, nil
	}
	diff = min(diff, maxPodCreateDeletePerSync)
	var indexes []int
	if isIndexed(job) {
		indexes = firstPendingIndexes(jc.active, jc.succeededIdx, int(diff), int(*job.Spec.Completions))
		diff = int32(len(indexes))
	}
	if diff == 0 {
		return active, nil
	}
	jm.expectations.Expect(key, int(diff), 0)
	template := job.Spec.Template.DeepCopy()
	if isIndexed(job) {
		addIndexEnv(&template.Spec)
	}
	template.Finalizers = append(template.Finalizers, batchv1.JobTrackingFinalizer)
	var next, attempted, failed atomic.Int32
	_, err := ownership.SlowStartBatch(int(diff), ownership.SlowStartInitialBatchSize, func() error {
		attempted.Add(1)
		ix := int(next.Add(1) - 1)
		pod := podFromTemplate(job, template)
		if indexes != nil {
			setIndex(pod, job, indexes[ix])
		}
		created, err := jm.client.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			jm.expectations.Observed(key, true)
			failed.Add(1)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
			jm.recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			return fmt.Errorf("create pod for job %s: %w", key, err)
		}
		jm.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
		return nil
	})
	for skipped := int(diff) - int(attempted.Load()); skipped > 0; skipped-- {
		jm.expectations.Observed(key, true)
	}
	return active + attempted.Load() - failed.Load(), err
}

// podFromTemplate builds a job pod (the template already carries the
// tracking finalizer).
func podFromTemplate(job *batchv1.Job, t *corev1.PodTemplateSpec) *corev1.Pod {
	t = t.DeepCopy()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    job.Name + "-",
			Namespace:       job.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, controllerKind)},
		},
		Spec: t.Spec,
	}
}

// setIndex makes pod the one of completion index ix.
func setIndex(pod *corev1.Pod, job *batchv1.Job, ix int) {
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(ix)
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(ix)
	pod.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, ix)
	pod.GenerateName = generateNameWithIndex(job.Name, ix)
}

// activePodsForRemoval picks at least n active pods to delete, least
// valuable first; an indexed job also loses pods of invalid, duplicated or
// already succeeded indexes.
func activePodsForRemoval(job *batchv1.Job, pods []*corev1.Pod, succeeded orderedIntervals, n int) []*corev1.Pod {
	var rm, left []*corev1.Pod
	if isIndexed(job) {
		completions := int(*job.Spec.Completions)
		byIndex := map[int][]*corev1.Pod{}
		for _, p := range pods {
			ix := completionIndex(p)
			if ix == unknownIndex || ix >= completions || succeeded.has(ix) {
				rm = append(rm, p)
				continue
			}
			byIndex[ix] = append(byIndex[ix], p)
		}
		for _, ps := range byIndex {
			slices.SortFunc(ps, lessValuableFirst)
			rm = append(rm, ps[:len(ps)-1]...) // keep the most valuable
			left = append(left, ps[len(ps)-1])
		}
	} else {
		left = slices.Clone(pods)
	}
	if len(rm) < n {
		slices.SortFunc(left, lessValuableFirst)
		rm = append(rm, left[:min(len(left), n-len(rm))]...)
	}
	return rm
}

// lessValuableFirst orders pods as upstream's ActivePods: unscheduled,
// then pending, then not ready, then ready for less time, then more
// restarts, then newer.
func lessValuableFirst(a, b *corev1.Pod) int {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		if a.Spec.NodeName == "" {
			return -1
		}
		return 1
	}
	rank := map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}
	if ra, rb := rank[a.Status.Phase], rank[b.Status.Phase]; ra != rb {
		return ra - rb
	}
	ca, cb := ownership.PodCondition(a, corev1.PodReady), ownership.PodCondition(b, corev1.PodReady)
	readyA, readyB := ca != nil && ca.Status == corev1.ConditionTrue, cb != nil && cb.Status == corev1.ConditionTrue
	if readyA != readyB {
		if !readyA {
			return -1
		}
		return 1
	}
	if readyA && !ca.LastTransitionTime.Equal(&cb.LastTransitionTime) {
		return -ca.LastTransitionTime.Compare(cb.LastTransitionTime.Time)
	}
	if ra, rb := restarts(a), restarts(b); ra != rb {
		return int(rb - ra)
	}
	return -a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// deleteActivePods deletes pods of a finishing job, keeping their
// finalizers so they are counted (as failed) when they end.
func (jm *Controller) deleteActivePods(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) (ready, deleted int32, err error) {
	return jm.forEachPod(pods, func(p *corev1.Pod) error {
		return jm.deletePodOf(ctx, job, p)
	})
}

// deleteJobPods deletes pods the job no longer wants (excess, suspended):
// their finalizer goes first, so they are not counted at all.
func (jm *Controller) deleteJobPods(ctx context.Context, job *batchv1.Job, key string, pods []*corev1.Pod) (ready, deleted int32, err error) {
	return jm.forEachPod(pods, func(p *corev1.Pod) error {
		err := jm.removeFinalizer(ctx, p)
		if err == nil {
			err = jm.deletePodOf(ctx, job, p)
		}
		if err != nil {
			jm.expectations.Observed(key, false)
		}
		return err
	})
}

// forEachPod runs fn on pods in parallel; NotFound counts as done. It
// returns how many (and how many ready) succeeded, and the errors.
func (jm *Controller) forEachPod(pods []*corev1.Pod, fn func(*corev1.Pod) error) (ready, done int32, err error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	var nReady, nDone atomic.Int32
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(p); err != nil && !apierrors.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			nDone.Add(1)
			if ownership.IsPodReady(p) {
				nReady.Add(1)
			}
		}()
	}
	wg.Wait()
	return nReady.Load(), nDone.Load(), errors.Join(errs...)
}

// deletePodOf deletes one pod of job (guarded by uid) with an event.
func (jm *Controller) deletePodOf(ctx context.Context, job *batchv1.Job, p *corev1.Pod) error {
	err := jm.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
	switch {
	case apierrors.IsNotFound(err):
		return err
	case err != nil:
		jm.recorder.Eventf(job, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	jm.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", p.Name)
	return nil
}
