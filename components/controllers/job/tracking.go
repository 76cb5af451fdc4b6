package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// trackStatus counts finished pods through the finalizer protocol and
// writes the status:
//  1. finished pods holding the finalizer are added to
//     status.uncountedTerminatedPods (an indexed job's successes to
//     completedIndexes), with the interim SuccessCriteriaMet or
//     FailureTarget condition, and the status is written;
//  2. their finalizers are removed;
//  3. uncounted pods whose finalizer is gone move to succeeded/failed;
//  4. Complete or Failed is added once nothing is uncounted or running.
func (jm *Controller) trackStatus(ctx context.Context, key string, jc *jobCtx, needsFlush bool) error {
	job := jc.job
	indexed := isIndexed(job)
	if indexed {
		slices.SortFunc(jc.pods, func(a, b *corev1.Pod) int { return completionIndex(a) - completionIndex(b) })
	}
	withFinalizer := sets.New[string]()
	for _, p := range jc.pods {
		if hasFinalizer(p) && !jc.expectedRm.Has(string(p.UID)) {
			withFinalizer.Insert(string(p.UID))
		}
	}
	if countUncounted(&job.Status, withFinalizer) {
		needsFlush = true
	}
	uncounted := job.Status.UncountedTerminatedPods
	var toRemove []*corev1.Pod
	var newIndexes []int
	reachedMax := false
	failing := jc.finished != nil && jc.finished.Type != batchv1.JobSuccessCriteriaMet && jc.finished.Type != batchv1.JobComplete
	for _, p := range jc.pods {
		uid := string(p.UID)
		if !hasFinalizer(p) || jc.expectedRm.Has(uid) {
			continue // counted in an earlier sync
		}
		failed := isPodFailed(p)
		if !(job.DeletionTimestamp != nil || jc.finished != nil || p.Status.Phase == corev1.PodSucceeded || failed) {
			continue // still running: its finalizer stays
		}
		toRemove = append(toRemove, p)
		ix := completionIndex(p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !jc.uncountedFailed.Has(uid):
			if indexed {
				// The index records the success; no UID needed.
				if ix != unknownIndex && ix < int(*job.Spec.Completions) && !jc.prevSucceeded.has(ix) {
					newIndexes = append(newIndexes, ix)
					needsFlush = true
				}
			} else if !jc.uncountedSucceeded.Has(uid) {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
				needsFlush = true
			}
		case failed || failing:
			// Once the job fails, every pod not succeeded counts as failed.
			if !jc.uncountedFailed.Has(uid) && (!indexed || (ix != unknownIndex && ix < int(*job.Spec.Completions))) {
				uncounted.Failed = append(uncounted.Failed, p.UID)
				needsFlush = true
			}
		}
		if len(newIndexes)+len(uncounted.Succeeded)+len(uncounted.Failed) >= maxUncountedPods {
			reachedMax = true // the status write requeues the job for the rest
			break
		}
	}
	if indexed {
		jc.succeededIdx = jc.succeededIdx.with(newIndexes)
		if s := jc.succeededIdx.String(); s != job.Status.CompletedIndexes {
			job.Status.CompletedIndexes = s
			needsFlush = true
		}
		job.Status.Succeeded = int32(jc.succeededIdx.total())
	}
	now := jm.now()
	if jc.finished != nil && jc.finished.Type == batchv1.JobFailureTarget {
		job.Status.Conditions = append(job.Status.Conditions, *jc.finished)
		needsFlush = true
		jc.finished = newCondition(batchv1.JobFailed, jc.finished.Reason, jc.finished.Message, now)
	}
	if jc.finished != nil && jc.finished.Type == batchv1.JobSuccessCriteriaMet {
		if c := findCondition(job, batchv1.JobSuccessCriteriaMet); c == nil || c.Status != corev1.ConditionTrue {
			job.Status.Conditions = append(job.Status.Conditions, *jc.finished)
			needsFlush = true
		}
		jc.finished = newCondition(batchv1.JobComplete, jc.finished.Reason, jc.finished.Message, now)
	}

	// Step 1: record what is about to be counted.
	if needsFlush {
		if err := jm.updateStatus(ctx, jc); err != nil {
			return fmt.Errorf("add uncounted pods to status: %w", err)
		}
		jm.backoff.commit(key, jc.backoff)
		needsFlush = false
	}
	// Step 2: release the pods.
	var rmErr error
	if len(toRemove) > 0 {
		var removed []bool
		removed, rmErr = jm.removeFinalizers(ctx, key, toRemove)
		for i, p := range toRemove {
			if removed[i] {
				withFinalizer.Delete(string(p.UID))
			}
		}
	}
	// Step 3: count them.
	if countUncounted(&jc.job.Status, withFinalizer) {
		needsFlush = true
	}
	if rmErr != nil {
		if needsFlush {
			if err := jm.updateStatus(ctx, jc); err != nil {
				return errors.Join(rmErr, fmt.Errorf("count pods in status: %w", err))
			}
		}
		return rmErr
	}
	// Step 4: finish.
	finished := !reachedMax && jm.enactFinished(jc)
	if finished || needsFlush {
		if err := jm.updateStatus(ctx, jc); err != nil {
			return fmt.Errorf("count pods in status: %w", err)
		}
	}
	if finished {
		jm.recordFinished(jc.job)
		jm.backoff.remove(key)
		if jc.job.Spec.TTLSecondsAfterFinished != nil {
			jm.queue.Add(key) // schedules the TTL deletion
		}
	}
	return nil
}

// countUncounted moves the uncounted pods whose finalizer is gone (not in
// withFinalizer) into the succeeded and failed counters.
func countUncounted(status *batchv1.JobStatus, withFinalizer sets.Set[string]) bool {
	u := status.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, uid := range uids {
			if withFinalizer.Has(string(uid)) {
				out = append(out, uid)
			}
		}
		return out
	}
	s, f := keep(u.Succeeded), keep(u.Failed)
	if len(s) == len(u.Succeeded) && len(f) == len(u.Failed) {
		return false
	}
	status.Succeeded += int32(len(u.Succeeded) - len(s))
	status.Failed += int32(len(u.Failed) - len(f))
	u.Succeeded, u.Failed = s, f
	return true
}

// enactFinished adds the Complete or Failed condition once no pod is
// uncounted or still terminating.
func (jm *Controller) enactFinished(jc *jobCtx) bool {
	if jc.finished == nil {
		return false
	}
	job := jc.job
	if u := job.Status.UncountedTerminatedPods; len(u.Succeeded)+len(u.Failed) > 0 || jc.terminating > 0 {
		return false
	}
	c := jc.finished
	setCondition(job, c.Type, corev1.ConditionTrue, c.Reason, c.Message, jm.now())
	if c.Type == batchv1.JobComplete {
		t := findCondition(job, batchv1.JobComplete).LastTransitionTime
		job.Status.CompletionTime = &t
	}
	return true
}

func (jm *Controller) recordFinished(job *batchv1.Job) {
	if c := findCondition(job, batchv1.JobComplete); c != nil && c.Status == corev1.ConditionTrue {
		if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
			jm.recorder.Event(job, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
		}
		jm.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
		return
	}
	if c := findCondition(job, batchv1.JobFailed); c != nil {
		jm.recorder.Event(job, corev1.EventTypeWarning, c.Reason, c.Message)
	}
}

// updateStatus writes jc.job's status and keeps the returned object for
// the next write of this sync.
func (jm *Controller) updateStatus(ctx context.Context, jc *jobCtx) error {
	out, err := jm.client.BatchV1().Jobs(jc.job.Namespace).UpdateStatus(ctx, jc.job, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	jm.superseded.add(jc.job.Namespace+"/"+jc.job.Name, jc.job.ResourceVersion)
	status := jc.job.Status
	jc.job = out
	jc.job.Status = status
	jc.job.ResourceVersion = out.ResourceVersion
	return nil
}

// removeFinalizers removes the tracking finalizer from pods (in parallel),
// recording the removals in flight; removed[i] is true when pods[i] no
// longer holds it (or is gone).
func (jm *Controller) removeFinalizers(ctx context.Context, key string, pods []*corev1.Pod) ([]bool, error) {
	removed := make([]bool, len(pods))
	uids := make([]string, len(pods))
	for i, p := range pods {
		uids[i] = string(p.UID)
	}
	jm.finalizers.expect(key, uids)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := jm.removeFinalizer(ctx, p)
			if err != nil {
				jm.finalizers.observed(key, string(p.UID)) // no update will come
				if !apierrors.IsNotFound(err) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
			removed[i] = true
		}()
	}
	wg.Wait()
	return removed, errors.Join(errs...)
}

// removeFinalizer patches the tracking finalizer off pod, guarded by uid.
func (jm *Controller) removeFinalizer(ctx context.Context, pod *corev1.Pod) error {
	if !hasFinalizer(pod) {
		return nil
	}
	patch, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
		"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer},
		"uid":                                 pod.UID,
	}})
	_, err := jm.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove tracking finalizer of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return err
}

func hasFinalizer(p *corev1.Pod) bool {
	return slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer)
}

func uidSet(uids []types.UID) sets.Set[string] {
	s := sets.New[string]()
	for _, u := range uids {
		s.Insert(string(u))
	}
	return s
}

// uidExpectations tracks, per job, pods whose finalizer removal was sent
// and not yet observed.
type uidExpectations struct {
	mu sync.Mutex
	m  map[string]sets.Set[string]
}

func newUIDExpectations() *uidExpectations { return &uidExpectations{m: map[string]sets.Set[string]{}} }

func (u *uidExpectations) expect(key string, uids []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m[key] == nil {
		u.m[key] = sets.New[string]()
	}
	u.m[key].Insert(uids...)
}

func (u *uidExpectations) observed(key, uid string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if s := u.m[key]; s != nil {
		s.Delete(uid)
		if s.Len() == 0 {
			delete(u.m, key)
		}
	}
}

// get returns a copy of key's pending removals.
func (u *uidExpectations) get(key string) sets.Set[string] {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.m[key].Clone()
}

func (u *uidExpectations) forget(key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.m, key)
}

// rvTracker remembers resource versions of jobs that this controller's own
// writes replaced, until the cache moves past them.
type rvTracker struct {
	mu sync.Mutex
	m  map[string]sets.Set[string]
}

func newRVTracker() *rvTracker { return &rvTracker{m: map[string]sets.Set[string]{}} }

func (r *rvTracker) add(key, rv string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[key] == nil {
		r.m[key] = sets.New[string]()
	}
	r.m[key].Insert(rv)
}

// stale reports whether the cached rv is one our writes replaced; once the
// cache shows another version the record is dropped.
func (r *rvTracker) stale(key, rv string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.m[key]
	if s == nil {
		return false
	}
	if s.Has(rv) {
		return true
	}
	delete(r.m, key)
	return false
}

func (r *rvTracker) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, key)
}
