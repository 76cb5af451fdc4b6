// Package job implements the Job controller: it runs a job's pods to
// spec.completions successes with at most spec.parallelism at once
// (NonIndexed, or Indexed with one pod per completion index carrying the
// batch.kubernetes.io/job-completion-index annotation and label, the
// JOB_COMPLETION_INDEX variable and hostname <job>-<index>), recreates
// failed pods after an exponential backoff (10s doubling, at most 6 min),
// fails the job past spec.backoffLimit (BackoffLimitExceeded) or
// spec.activeDeadlineSeconds (DeadlineExceeded), suspends and resumes it,
// and deletes it spec.ttlSecondsAfterFinished after it finished (with
// background propagation, the job of upstream's ttl-after-finished
// controller).
//
// Pods are counted as upstream counts them since 1.26: every pod is
// created with the batch.kubernetes.io/job-tracking finalizer, so it
// cannot vanish before it is counted. A finished pod's UID is first
// written to status.uncountedTerminatedPods (an indexed job's success to
// status.completedIndexes), then its finalizer is removed, then it moves
// from the uncounted list to status.succeeded or status.failed. Each step
// is idempotent, so a crash between them neither loses nor double counts a
// pod. The interim conditions SuccessCriteriaMet and FailureTarget are set
// as soon as the outcome is known; Complete and Failed once no pod is left
// running or uncounted, as upstream 1.31+ does.
//
// Not implemented: podFailurePolicy, successPolicy, backoffLimitPerIndex
// and maxFailedIndexes, podReplacementPolicy Failed (jobs with these are
// run with the defaults' behaviour), managedBy other than this controller
// (such jobs are skipped).
package job

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/ownership"
)

// Name is the controller's name in --controllers.
const Name = "job"

// Limits per sync, as upstream.
const (
	maxPodCreateDeletePerSync = 500
	maxUncountedPods          = 500
)

// managedByThis is the spec.managedBy value (or none) this controller syncs.
const managedByThis = "kubernetes.io/job-controller"

var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller runs jobs' pods to completion.
type Controller struct {
	client       kubernetes.Interface
	jobLister    batchlisters.JobLister
	podLister    corelisters.PodLister
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	orphanQueue  workqueue.TypedRateLimitingInterface[string]
	expectations *ownership.Expectations
	// finalizers holds, per job, the pods whose tracking finalizer removal
	// was sent but not yet seen in the cache.
	finalizers *uidExpectations
	// superseded holds, per job, resource versions this controller has
	// replaced with its own status writes: a cached job still at one of
	// them is stale and must not be counted from.
	superseded *rvTracker
	backoff    *backoffStore
	recorder   record.EventRecorder
	log        *slog.Logger
	now        func() time.Time
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the Job controller on the shared informers.
func New(ctx context.Context, c *controllers.Context) (controllers.Controller, error) {
	jobInf := c.Informers.Batch().V1().Jobs()
	podInf := c.Informers.Core().V1().Pods()
	jm := &Controller{
		client:       c.Client,
		jobLister:    jobInf.Lister(),
		podLister:    podInf.Lister(),
		synced:       []cache.InformerSynced{jobInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:        controllers.NewQueue[string](Name),
		orphanQueue:  controllers.NewQueue[string](Name + "-orphan-pods"),
		expectations: ownership.NewExpectations(),
		finalizers:   newUIDExpectations(),
		superseded:   newRVTracker(),
		backoff:      newBackoffStore(),
		recorder:     c.Recorder("job-controller"),
		log:          slog.Default().With("controller", Name),
		now:          time.Now,
	}
	if _, err := jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    jm.enqueueJob,
		UpdateFunc: func(_, cur interface{}) { jm.enqueueJob(cur) },
		DeleteFunc: jm.deleteJob,
	}); err != nil {
		return nil, fmt.Errorf("watch jobs: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    jm.addPod,
		UpdateFunc: jm.updatePod,
		DeleteFunc: func(obj interface{}) { jm.deletePod(obj, true) },
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	return jm, nil
}

func (jm *Controller) enqueueJob(obj interface{}) { controllers.Enqueue(jm.queue, obj) }

// deleteJob requeues the job (to drop its state) and its pods that still
// hold the tracking finalizer, which nobody else would remove.
func (jm *Controller) deleteJob(obj interface{}) {
	jm.enqueueJob(obj)
	job, ok := controllers.DeletedObject[*batchv1.Job](obj)
	if !ok {
		return
	}
	pods, err := jm.podLister.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pods {
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.UID == job.UID && hasFinalizer(p) {
			jm.orphanQueue.Add(p.Namespace + "/" + p.Name)
		}
	}
}

// resolveJob returns the job that pod's controllerRef names, if it exists.
func (jm *Controller) resolveJob(pod *corev1.Pod) *batchv1.Job {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	job, err := jm.jobLister.Jobs(pod.Namespace).Get(ref.Name)
	if err != nil || job.UID != ref.UID {
		return nil
	}
	return job
}

// enqueueMatching queues jobs whose selector matches an orphan pod.
func (jm *Controller) enqueueMatching(pod *corev1.Pod) {
	jobs, err := jm.jobLister.Jobs(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, j := range jobs {
		sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
			jm.queue.Add(j.Namespace + "/" + j.Name)
		}
	}
}

func (jm *Controller) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		jm.deletePod(pod, false)
		return
	}
	if metav1.GetControllerOfNoCopy(pod) == nil {
		if hasFinalizer(pod) {
			jm.orphanQueue.Add(pod.Namespace + "/" + pod.Name)
		}
		jm.enqueueMatching(pod)
		return
	}
	job := jm.resolveJob(pod)
	if job == nil {
		if hasFinalizer(pod) {
			jm.orphanQueue.Add(pod.Namespace + "/" + pod.Name)
		}
		return
	}
	key := job.Namespace + "/" + job.Name
	jm.expectations.Observed(key, true)
	jm.queue.Add(key)
}

func (jm *Controller) updatePod(oldObj, curObj interface{}) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if cur.DeletionTimestamp != nil {
		if old.DeletionTimestamp == nil {
			// Counted (and replaced) as soon as it is terminating.
			jm.deletePod(cur, false)
			return
		}
		job := jm.resolveJob(cur)
		switch {
		case job != nil && !isFinished(job):
			key := job.Namespace + "/" + job.Name
			if !hasFinalizer(cur) {
				jm.finalizers.observed(key, string(cur.UID))
			}
			jm.queue.Add(key)
		case hasFinalizer(cur):
			jm.orphanQueue.Add(cur.Namespace + "/" + cur.Name)
		}
		return
	}
	if hasFinalizer(old) && !hasFinalizer(cur) {
		if job := jm.resolveJob(old); job != nil {
			jm.finalizers.observed(job.Namespace+"/"+job.Name, string(cur.UID))
		}
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		if job := jm.resolveJob(old); job != nil {
			jm.queue.Add(job.Namespace + "/" + job.Name)
		}
	}
	if curRef == nil {
		if hasFinalizer(cur) {
			jm.orphanQueue.Add(cur.Namespace + "/" + cur.Name)
		}
		if oldRef != nil || !labels.Equals(old.Labels, cur.Labels) {
			jm.enqueueMatching(cur)
		}
		return
	}
	job := jm.resolveJob(cur)
	if job == nil || isFinished(job) {
		if hasFinalizer(cur) {
			jm.orphanQueue.Add(cur.Namespace + "/" + cur.Name)
		}
		return
	}
	jm.queue.Add(job.Namespace + "/" + job.Name)
}

// deletePod handles a pod deleted (final) or marked for deletion.
func (jm *Controller) deletePod(obj interface{}, final bool) {
	pod, ok := controllers.DeletedObject[*corev1.Pod](obj)
	if !ok {
		return
	}
	job := jm.resolveJob(pod)
	if job == nil || isFinished(job) {
		if hasFinalizer(pod) && !final {
			jm.orphanQueue.Add(pod.Namespace + "/" + pod.Name)
		}
		return
	}
	key := job.Namespace + "/" + job.Name
	jm.expectations.Observed(key, false)
	if final || !hasFinalizer(pod) {
		jm.finalizers.observed(key, string(pod.UID))
	}
	jm.queue.Add(key)
}

// Run waits for the caches and runs workers until ctx ends; one more
// worker releases orphan pods.
func (jm *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer jm.queue.ShutDown()
	defer jm.orphanQueue.ShutDown()
	jm.log.Info("starting controller")
	defer jm.log.Info("stopped controller")
	if !cache.WaitForNamedCacheSync(Name, ctx.Done(), jm.synced...) {
		return
	}
	controllers.StartWorkers(ctx, max(workers, 1), jm.queue, jm.sync, jm.log)
	controllers.StartWorkers(ctx, 1, jm.orphanQueue, jm.syncOrphanPod, jm.log)
	<-ctx.Done()
}

// syncOrphanPod removes the tracking finalizer from a pod no running job
// counts: its job is gone or finished, or it has no job at all.
func (jm *Controller) syncOrphanPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := jm.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !hasFinalizer(pod) {
		return nil
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
			return nil // not a job's pod: not ours to touch
		}
		if job := jm.resolveJob(pod); job != nil && !isFinished(job) {
			return nil // its job counts it
		}
	}
	if err := jm.removeFinalizer(ctx, pod); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
