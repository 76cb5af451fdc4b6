package job

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"

	"github.com/kubelab/kubelab/components/controllers/ownership"
)

// jobCtx is what one sync of a job knows.
type jobCtx struct {
	job         *batchv1.Job
	pods        []*corev1.Pod
	active      []*corev1.Pod
	ready       int32
	terminating int32
	succeeded   int32
	failed      int32
	// uncounted is status.uncountedTerminatedPods at the start of the sync.
	uncountedSucceeded, uncountedFailed sets.Set[string]
	// expectedRm are pods whose finalizer removal is in flight.
	expectedRm sets.Set[string]
	// prevSucceeded and succeededIdx are an indexed job's completed
	// indexes before this sync and with the pods seen now.
	prevSucceeded, succeededIdx orderedIntervals
	backoff                     backoffRecord
	// finished is the condition the job is heading for (nil: running).
	finished *batchv1.JobCondition
}

// sync brings the job key one step closer to its spec and records status.
func (jm *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	shared, err := jm.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		jm.expectations.Forget(key)
		jm.finalizers.forget(key)
		jm.superseded.forget(key)
		jm.backoff.remove(key)
		return nil
	}
	if err != nil {
		return err
	}
	if jm.superseded.stale(key, shared.ResourceVersion) {
		// Our last status write is not in the cache yet; counting from
		// the older status could miss pods whose finalizer is already
		// gone. The write's watch event requeues the job.
		return nil
	}
	if m := shared.Spec.ManagedBy; m != nil && *m != managedByThis {
		return nil // another controller runs this job
	}
	job := shared.DeepCopy()
	if msg := unusable(job); msg != "" {
		// Validation prevents these; an object written around it is
		// reported, not acted on (it could create pods without end).
		jm.recorder.Event(job, corev1.EventTypeWarning, "InvalidJob", msg)
		return nil
	}
	if isFinished(job) {
		jm.backoff.remove(key)
		return jm.handleTTL(ctx, key, job)
	}
	if m := job.Spec.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		jm.recorder.Event(job, corev1.EventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
		return nil
	}
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	// Expectations first: a pod that shows up after the list below
	// defers the sync instead of being missed.
	satisfied := jm.expectations.Satisfied(key)
	pods, err := jm.podsForJob(ctx, job)
	if err != nil {
		return err
	}
	now := jm.now()
	jc := &jobCtx{job: job, pods: pods, expectedRm: jm.finalizers.get(key),
		uncountedSucceeded: uidSet(job.Status.UncountedTerminatedPods.Succeeded),
		uncountedFailed:    uidSet(job.Status.UncountedTerminatedPods.Failed)}
	for _, p := range pods {
		if ownership.IsPodActive(p) {
			jc.active = append(jc.active, p)
			if ownership.IsPodReady(p) {
				jc.ready++
			}
		}
		if p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			jc.terminating++
		}
	}
	active := int32(len(jc.active))
	newSucceeded, newFailed := newFinishedPods(jc)
	jc.succeeded = job.Status.Succeeded + int32(len(newSucceeded)) + int32(jc.uncountedSucceeded.Len())
	jc.failed = job.Status.Failed + int32(len(newFailed)) + int32(jc.uncountedFailed.Len())
	startChanged := false
	if job.Status.StartTime == nil && !suspended(job) {
		t := metav1.NewTime(now)
		job.Status.StartTime, startChanged = &t, true
	}
	jc.backoff = jm.backoff.next(key, newSucceeded, newFailed, now)

	if c := findCondition(job, batchv1.JobSuccessCriteriaMet); c != nil && c.Status == corev1.ConditionTrue {
		jc.finished = c
	} else if c := findCondition(job, batchv1.JobFailureTarget); c != nil && c.Status == corev1.ConditionTrue {
		jc.finished = newCondition(batchv1.JobFailed, c.Reason, c.Message, now)
	} else if jc.failed > *job.Spec.BackoffLimit || pastBackoffLimitOnFailure(job, pods) {
		jc.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", now)
	} else if remaining, set := deadlineRemaining(job, now); set && remaining <= 0 {
		jc.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", now)
	} else if set {
		jm.queue.AddAfter(key, remaining)
	}
	if isIndexed(job) {
		jc.prevSucceeded, jc.succeededIdx = succeededIndexes(job, pods)
		jc.succeeded = int32(jc.succeededIdx.total())
	}

	var manageErr error
	suspendChanged := false
	if jc.finished != nil {
		// Failing (or succeeded): stop what still runs, keeping the
		// finalizers so the pods are counted as they end.
		deletedReady, deleted, err := jm.deleteActivePods(ctx, job, jc.active)
		if deleted != active || !satisfied {
			jc.finished = nil // pods or cache entries remain
		}
		active -= deleted
		jc.terminating += deleted
		jc.ready -= deletedReady
		manageErr = err
	} else {
		manageCalled := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = jm.manageJob(ctx, key, jc)
			manageCalled = true
		}
		complete := false
		if job.Spec.Completions == nil {
			// Any success ends a work-queue job once the rest stopped.
			complete = jc.succeeded > 0 && active == 0
		} else {
			complete = jc.succeeded >= *job.Spec.Completions && active == 0
		}
		switch {
		case complete:
			jc.finished = newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", now)
		case manageCalled && suspended(job):
			if setCondition(job, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now) {
				suspendChanged = true
				jm.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
			}
		case manageCalled:
			if setCondition(job, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now) {
				suspendChanged = true
				jm.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
				// The deadline counts time active, not suspended.
				t := metav1.NewTime(now)
				job.Status.StartTime = &t
			}
		}
	}
	old := shared.Status
	needsUpdate := suspendChanged || startChanged || active != old.Active ||
		old.Ready == nil || *old.Ready != jc.ready || old.Terminating == nil || *old.Terminating != jc.terminating
	job.Status.Active = active
	job.Status.Ready = &jc.ready
	job.Status.Terminating = &jc.terminating
	if err := jm.trackStatus(ctx, key, jc, needsUpdate); err != nil {
		return fmt.Errorf("track status of job %s: %w", key, err)
	}
	return manageErr
}

// podsForJob claims the job's pods: its own that still match, and orphans
// that match, which it adopts with the tracking finalizer; pods that stop
// matching are released and lose the finalizer.
func (jm *Controller) podsForJob(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("job %s/%s selector: %w", job.Namespace, job.Name, err)
	}
	all, err := jm.podLister.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	orphans := sets.New[string]()
	for _, p := range all {
		if metav1.GetControllerOfNoCopy(p) == nil {
			orphans.Insert(string(p.UID))
		}
	}
	patch := ownership.PodPatcher(jm.client)
	withFinalizer := func(ctx context.Context, ns, name string, data []byte) error {
		return patch(ctx, ns, name, finalizerClaimPatch(data))
	}
	claimed, err := ownership.Claim(ctx, ownership.Owner{Object: job, GVK: controllerKind}, sel, all, withFinalizer)
	for i, p := range claimed {
		if orphans.Has(string(p.UID)) && !hasFinalizer(p) {
			p = p.DeepCopy() // adopted: the patch added the finalizer
			p.Finalizers = append(p.Finalizers, batchv1.JobTrackingFinalizer)
			claimed[i] = p
		}
	}
	return claimed, err
}

// finalizerClaimPatch extends an ownership adopt patch with the tracking
// finalizer and a release patch with its removal, so both happen in the
// same write as the ownerReference change.
func finalizerClaimPatch(data []byte) []byte {
	var p struct {
		Metadata map[string]interface{} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &p); err != nil || p.Metadata == nil {
		return data
	}
	release := false
	if refs, ok := p.Metadata["ownerReferences"].([]interface{}); ok && len(refs) > 0 {
		if r, ok := refs[0].(map[string]interface{}); ok && r["$patch"] == "delete" {
			release = true
		}
	}
	if release {
		p.Metadata["$deleteFromPrimitiveList/finalizers"] = []string{batchv1.JobTrackingFinalizer}
	} else {
		p.Metadata["finalizers"] = []string{batchv1.JobTrackingFinalizer}
	}
	out, err := json.Marshal(p)
	if err != nil {
		return data
	}
	return out
}

// newFinishedPods returns the pods that finished and are not counted yet:
// still holding the finalizer, not in the uncounted lists, no removal in
// flight. A pod being deleted counts as failed (it will never succeed).
func newFinishedPods(jc *jobCtx) (succeeded, failed []*corev1.Pod) {
	for _, p := range jc.pods {
		uid := string(p.UID)
		if !hasFinalizer(p) || jc.expectedRm.Has(uid) {
			continue
		}
		if isIndexed(jc.job) {
			if ix := completionIndex(p); ix == unknownIndex || ix >= int(*jc.job.Spec.Completions) {
				continue
			}
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !jc.uncountedSucceeded.Has(uid):
			succeeded = append(succeeded, p)
		case isPodFailed(p) && !jc.uncountedFailed.Has(uid):
			failed = append(failed, p)
		}
	}
	return succeeded, failed
}

// isPodFailed: failed, or deleted before it succeeded.
func isPodFailed(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed || (p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded)
}

// pastBackoffLimitOnFailure counts container restarts of running pods
// against the backoff limit for restartPolicy OnFailure.
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, cs := range p.Status.InitContainerStatuses {
			restarts += cs.RestartCount
		}
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
	}
	if *job.Spec.BackoffLimit == 0 {
		return restarts > 0
	}
	return restarts >= *job.Spec.BackoffLimit
}

// deadlineRemaining returns the time left before activeDeadlineSeconds and
// whether a deadline applies (set, started and not suspended).
func deadlineRemaining(job *batchv1.Job, now time.Time) (time.Duration, bool) {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || suspended(job) {
		return 0, false
	}
	return time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second - now.Sub(job.Status.StartTime.Time), true
}

func suspended(job *batchv1.Job) bool { return job.Spec.Suspend != nil && *job.Spec.Suspend }

// isFinished reports whether the job has a true Complete or Failed condition.
func isFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func findCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == t {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

func newCondition(t batchv1.JobConditionType, reason, message string, now time.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
}

// setCondition sets condition t to status, adding it only when true;
// reports whether anything changed.
func setCondition(job *batchv1.Job, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) bool {
	if c := findCondition(job, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, message, metav1.NewTime(now)
		return true
	}
	if status != corev1.ConditionTrue {
		return false
	}
	c := newCondition(t, reason, message, now)
	c.Status = status
	job.Status.Conditions = append(job.Status.Conditions, *c)
	return true
}

// unusable explains why the job cannot be run safely, or returns "". The
// API server defaults parallelism and backoffLimit; a missing one is
// defaulted here as upstream defaults it.
func unusable(job *batchv1.Job) string {
	if job.Spec.Parallelism == nil {
		job.Spec.Parallelism = ptrTo[int32](1)
	}
	if job.Spec.BackoffLimit == nil {
		job.Spec.BackoffLimit = ptrTo[int32](6)
	}
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	switch {
	case err != nil || job.Spec.Selector == nil || sel.Empty():
		return "The job's selector is missing, empty or invalid; no pods are created."
	case !sel.Matches(labels.Set(job.Spec.Template.Labels)):
		return "The pod template's labels do not match the selector; no pods are created."
	case isIndexed(job) && job.Spec.Completions == nil:
		return "An Indexed job needs spec.completions; no pods are created."
	}
	return ""
}

func ptrTo[T any](v T) *T { return &v }
