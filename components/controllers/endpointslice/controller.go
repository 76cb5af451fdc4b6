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

	discoveryv1 "k8s.io/api/discovery/v1"
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
		queue:    controllers.NewQueue[string](Name),
		triggers: servicepods.NewTriggerTracker(),
		tracker:  newSliceTracker(),
		maxPer:   MaxEndpointsPerSlice,
		recorder: c.Recorder("endpoint-slice-controller"),
		log:      slog.Default().With("controller", Name),
	}
	events := &servicepods.Events{Services: sc.services, Queue: sc.queue, Triggers: sc.triggers, Now: time.Now}
	if _, err := svcInf.Informer().AddEventHandler(events.ServiceHandler()); err != nil {
		return nil, fmt.Errorf("watch services: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(events.PodHandler()); err != nil {
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
	slice, _ := controllers.DeletedObject[*discoveryv1.EndpointSlice](obj)
	return slice
}

// Run waits for the caches and runs workers until ctx ends.
func (sc *Controller) Run(ctx context.Context, workers int) {
	controllers.RunWorkers(ctx, Name, max(workers, 1), sc.queue, servicepods.IgnoreTerminatingNamespace(sc.sync), sc.log, sc.synced...)
}
