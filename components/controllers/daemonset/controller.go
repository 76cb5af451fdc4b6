// Package daemonset implements the DaemonSet controller: one pod per
// eligible node (template nodeName, nodeSelector, required node affinity,
// taints against tolerations, with the tolerations upstream adds to every
// daemon pod), following nodes as they come, change and go.
//
// Pods are created unbound, with a required node affinity on
// metadata.name naming their node, as upstream does since 1.12: the
// scheduler binds them, so DaemonSets need a running scheduler (one that
// understands matchFields). Pods of a node that became ineligible are
// deleted; pods bound to a deleted node are left to the pod garbage
// collector, unbound ones are deleted here.
//
// Updates follow spec.updateStrategy: RollingUpdate (maxUnavailable, or
// maxSurge to start the new pod before deleting the old) or OnDelete.
// Which pods are current is decided by the controller-revision-hash label.
// kubelab does not serve ControllerRevisions, so the hash is computed from
// the template itself (see templateHash) and no revision history is kept
// (kubectl rollout undo of a DaemonSet is not supported).
package daemonset

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/ownership"
)

// Name is the controller's name in --controllers.
const Name = "daemonset"

// burstReplicas caps the creates or deletes of one sync, as upstream.
const burstReplicas = 250

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller keeps one daemon pod on every eligible node.
type Controller struct {
	client       kubernetes.Interface
	dsLister     appslisters.DaemonSetLister
	podLister    corelisters.PodLister
	nodeLister   corelisters.NodeLister
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	expectations *ownership.Expectations
	// failedPodsBackoff spaces out replacing failed daemon pods per node,
	// so a node whose kubelet rejects the pod is not hot-looped.
	failedPodsBackoff *flowcontrol.Backoff
	recorder          record.EventRecorder
	log               *slog.Logger
	now               func() time.Time
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the DaemonSet controller on the shared informers.
func New(ctx context.Context, c *controllers.Context) (controllers.Controller, error) {
	dsInf := c.Informers.Apps().V1().DaemonSets()
	podInf := c.Informers.Core().V1().Pods()
	nodeInf := c.Informers.Core().V1().Nodes()
	dsc := &Controller{
		client:            c.Client,
		dsLister:          dsInf.Lister(),
		podLister:         podInf.Lister(),
		nodeLister:        nodeInf.Lister(),
		synced:            []cache.InformerSynced{dsInf.Informer().HasSynced, podInf.Informer().HasSynced, nodeInf.Informer().HasSynced},
		queue:             controllers.NewQueue[string](Name),
		expectations:      ownership.NewExpectations(),
		failedPodsBackoff: flowcontrol.NewBackOff(time.Second, 15*time.Minute),
		recorder:          c.Recorder("daemonset-controller"),
		log:               slog.Default().With("controller", Name),
		now:               time.Now,
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{dsInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    dsc.enqueue,
			UpdateFunc: func(_, cur interface{}) { dsc.enqueue(cur) },
			DeleteFunc: dsc.enqueue,
		}},
		{podInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: dsc.addPod, UpdateFunc: dsc.updatePod, DeleteFunc: dsc.deletePod}},
		{nodeInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: func(interface{}) { dsc.enqueueAll() },
			UpdateFunc: func(old, cur interface{}) {
				o, ok1 := old.(*corev1.Node)
				n, ok2 := cur.(*corev1.Node)
				if ok1 && ok2 && nodeUpdateMatters(o, n) {
					dsc.enqueueAll()
				}
			},
			DeleteFunc: func(interface{}) { dsc.enqueueAll() },
		}},
	}
	for _, x := range handlers {
		if _, err := x.inf.AddEventHandler(x.h); err != nil {
			return nil, fmt.Errorf("add event handler: %w", err)
		}
	}
	return dsc, nil
}

func (dsc *Controller) enqueue(obj interface{}) { controllers.Enqueue(dsc.queue, obj) }

// enqueueAll queues every daemon set (a node changed).
func (dsc *Controller) enqueueAll() {
	all, err := dsc.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		dsc.queue.Add(ds.Namespace + "/" + ds.Name)
	}
}

// ownerOf returns the key of the daemon set controlling pod, or "".
func (dsc *Controller) ownerOf(pod *corev1.Pod) string {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return ""
	}
	ds, err := dsc.dsLister.DaemonSets(pod.Namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return ""
	}
	return ds.Namespace + "/" + ds.Name
}

// enqueueMatching queues the daemon sets whose selector matches an orphan
// pod, so one of them adopts it.
func (dsc *Controller) enqueueMatching(pod *corev1.Pod) {
	all, err := dsc.dsLister.DaemonSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
			dsc.queue.Add(ds.Namespace + "/" + ds.Name)
		}
	}
}

func (dsc *Controller) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		dsc.deletePod(pod)
		return
	}
	if key := dsc.ownerOf(pod); key != "" {
		dsc.expectations.Observed(key, true)
		dsc.queue.Add(key)
		return
	}
	if metav1.GetControllerOfNoCopy(pod) == nil {
		dsc.enqueueMatching(pod)
	}
}

func (dsc *Controller) updatePod(oldObj, curObj interface{}) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		// A graceful delete: count it now so the replacement is not
		// delayed until the kubelet removes the pod.
		dsc.deletePod(cur)
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		if key := dsc.ownerOf(old); key != "" {
			dsc.queue.Add(key)
		}
	}
	if key := dsc.ownerOf(cur); key != "" {
		dsc.queue.Add(key)
		if ds, err := dsc.dsLister.DaemonSets(cur.Namespace).Get(metav1.GetControllerOfNoCopy(cur).Name); err == nil &&
			ds.Spec.MinReadySeconds > 0 && !ownership.IsPodReady(old) && ownership.IsPodReady(cur) {
			dsc.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if curRef == nil && (!labels.Equals(old.Labels, cur.Labels) || oldRef != nil) {
		dsc.enqueueMatching(cur)
	}
}

func (dsc *Controller) deletePod(obj interface{}) {
	pod, ok := controllers.DeletedObject[*corev1.Pod](obj)
	if !ok {
		return
	}
	if key := dsc.ownerOf(pod); key != "" {
		dsc.expectations.Observed(key, false)
		dsc.queue.Add(key)
	}
}

// Run waits for the caches and runs workers until ctx ends.
func (dsc *Controller) Run(ctx context.Context, workers int) {
	go wait.UntilWithContext(ctx, func(context.Context) { dsc.failedPodsBackoff.GC() }, time.Minute)
	controllers.RunWorkers(ctx, Name, max(workers, 1), dsc.queue, dsc.sync, dsc.log, dsc.synced...)
}

// deletePodOf deletes a daemon pod (guarded by its uid) and records it.
// A pod already gone is returned as NotFound.
func (dsc *Controller) deletePodOf(ctx context.Context, ds *appsv1.DaemonSet, pod *corev1.Pod) error {
	err := dsc.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name,
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	switch {
	case apierrors.IsNotFound(err):
		return err
	case err != nil:
		dsc.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	dsc.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", pod.Name)
	return nil
}
