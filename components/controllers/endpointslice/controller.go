// Package endpointslice implements the endpointslice controller: for every
// Service with a selector it keeps EndpointSlices (labelled
// kubernetes.io/service-name and managed-by endpointslice-controller.k8s.io,
// owned by the Service) listing the selected pods with their ready,
// serving and terminating conditions, at most 100 endpoints a slice. Pods
// whose named target ports resolve differently land in different slices,
// as every slice carries one port list. Slices are updated in place where
// possible, so a pod change rewrites one slice, not all of them.
// Slices of a deleted Service are left to the garbage collector (they are
// owned by it); slices of a Service that lost its selector are deleted.
package endpointslice

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/endpoints/servicepods"
)

// Name is the controller's name in --controllers.
const Name = "endpointslice"

// ManagedBy is the value of endpointslice.kubernetes.io/managed-by on the
// slices this controller owns.
const ManagedBy = "endpointslice-controller.k8s.io"

// MaxEndpointsPerSlice is upstream's default --max-endpoints-per-slice.
const MaxEndpointsPerSlice = 100

// Controller keeps EndpointSlices in step with Services and pods.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	triggers *servicepods.TriggerTracker
	tracker  *sliceTracker
	maxPer   int
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the endpointslice controller on the shared informers.
func New(ctx context.Context, c *controllers.Context) (controllers.Controller, error) {
	svcInf := c.Informers.Core().V1().Services()
	podInf := c.Informers.Core().V1().Pods()
	nodeInf := c.Informers.Core().V1().Nodes()
	sliceInf := c.Informers.Discovery().V1().EndpointSlices()
	sc := &Controller{
		client:   c.Client,
		services: svcInf.Lister(),
		pods:     podInf.Lister(),
		nodes:    nodeInf.Lister(),
		slices:   sliceInf.Lister(),
		synced: []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced,
			nodeInf.Informer().HasSynced, sliceInf.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name}),
		triggers: servicepods.NewTriggerTracker(),
		tracker:  newSliceTracker(),
		maxPer:   MaxEndpointsPerSlice,
		recorder: c.Recorder("endpoint-slice-controller"),
		log:      slog.Default().With("controller", Name),
		now:      time.Now,
	}
	if _, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if svc, ok := obj.(*corev1.Service); ok {
				sc.enqueue(svc.Namespace+"/"+svc.Name, svc.CreationTimestamp.Time)
			}
		},
		UpdateFunc: func(_, cur interface{}) {
			if svc, ok := cur.(*corev1.Service); ok {
				sc.enqueue(svc.Namespace+"/"+svc.Name, sc.now())
			}
		},
		DeleteFunc: func(obj interface{}) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				sc.queue.Add(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch services: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    sc.addPod,
		UpdateFunc: sc.updatePod,
		DeleteFunc: sc.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	if _, err := sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    sc.onSlice,
		UpdateFunc: func(_, cur interface{}) { sc.onSlice(cur) },
		DeleteFunc: func(obj interface{}) {
			sc.onSlice(obj)
			if slice := sliceOf(obj); slice != nil {
				sc.tracker.observeDeleted(slice.Namespace+"/"+slice.Labels[discoveryv1.LabelServiceName], slice.Name)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch endpointslices: %w", err)
	}
	return sc, nil
}

func (sc *Controller) enqueue(key string, at time.Time) {
	sc.triggers.Record(key, at)
	sc.queue.Add(key)
}

func (sc *Controller) enqueueForPod(pod *corev1.Pod, at time.Time) {
	for _, key := range servicepods.ServicesForPod(sc.services, pod) {
		sc.enqueue(key, at)
	}
}

func (sc *Controller) addPod(obj interface{}) {
	if pod, ok := obj.(*corev1.Pod); ok {
		sc.enqueueForPod(pod, servicepods.TriggerTime(pod))
	}
}

func (sc *Controller) updatePod(oldObj, curObj interface{}) {
	old, ok1 := oldObj.(*corev1.Pod)
	cur, ok2 := curObj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	labelsChanged := !equalStrings(old.Labels, cur.Labels)
	if !labelsChanged && !servicepods.PodChanged(old, cur) {
		return
	}
	at := sc.now()
	if servicepods.IsPodReady(old) != servicepods.IsPodReady(cur) {
		at = servicepods.TriggerTime(cur)
	}
	sc.enqueueForPod(cur, at)
	if labelsChanged {
		sc.enqueueForPod(old, at)
	}
}

func (sc *Controller) deletePod(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	sc.enqueueForPod(pod, sc.now())
}

// onSlice requeues the service of a managed slice that changed, so a
// slice edited or deleted by someone else is put right.
func (sc *Controller) onSlice(obj interface{}) {
	slice := sliceOf(obj)
	if slice == nil || slice.Labels[discoveryv1.LabelManagedBy] != ManagedBy {
		return
	}
	if svc := slice.Labels[discoveryv1.LabelServiceName]; svc != "" {
		sc.queue.Add(slice.Namespace + "/" + svc)
	}
}

// sliceOf returns the slice of an event object or tombstone, or nil.
func sliceOf(obj interface{}) *discoveryv1.EndpointSlice {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	slice, _ := obj.(*discoveryv1.EndpointSlice)
	return slice
}

func equalStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Run waits for the caches and runs workers until ctx ends.
func (sc *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer sc.queue.ShutDown()
	sc.log.Info("starting controller")
	defer sc.log.Info("stopped controller")
	if !cache.WaitForNamedCacheSync(Name, ctx.Done(), sc.synced...) {
		return
	}
	for i := 0; i < max(workers, 1); i++ {
		go wait.UntilWithContext(ctx, sc.worker, time.Second)
	}
	<-ctx.Done()
}

func (sc *Controller) worker(ctx context.Context) {
	for sc.processNextWorkItem(ctx) {
	}
}

func (sc *Controller) processNextWorkItem(ctx context.Context) bool {
	key, quit := sc.queue.Get()
	if quit {
		return false
	}
	defer sc.queue.Done(key)
	if err := sc.sync(ctx, key); err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			sc.queue.Forget(key)
			return true
		}
		sc.log.Warn("sync failed, requeued", "service", key, "err", err)
		sc.queue.AddRateLimited(key)
		return true
	}
	sc.queue.Forget(key)
	return true
}
