// Package endpoints implements the endpoints controller: for every Service
// with a selector it keeps an Endpoints object of the same name listing the
// selected pods' addresses (ready pods under addresses, the others under
// notReadyAddresses) and the service ports resolved against each pod.
// Services without a selector are left alone: their endpoints are the
// user's. Changes are written as soon as a pod or service event arrives
// (no batching period).
package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/endpoints/servicepods"
)

// Name is the controller's name in --controllers (upstream's alias for
// its endpoints controller is the singular "endpoint").
const Name = "endpoint"

// Controller keeps Endpoints in step with Services and pods.
type Controller struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	triggers  *servicepods.TriggerTracker
	recorder  record.EventRecorder
	log       *slog.Logger
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the endpoints controller on the shared informers.
func New(ctx context.Context, c *controllers.Context) (controllers.Controller, error) {
	svcInf := c.Informers.Core().V1().Services()
	podInf := c.Informers.Core().V1().Pods()
	epInf := c.Informers.Core().V1().Endpoints()
	ec := &Controller{
		client:    c.Client,
		services:  svcInf.Lister(),
		pods:      podInf.Lister(),
		endpoints: epInf.Lister(),
		synced:    []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced, epInf.Informer().HasSynced},
		queue:     controllers.NewQueue[string](Name),
		triggers:  servicepods.NewTriggerTracker(),
		recorder:  c.Recorder("endpoint-controller"),
		log:       slog.Default().With("controller", Name),
	}
	events := &servicepods.Events{Services: ec.services, Queue: ec.queue, Triggers: ec.triggers, Now: time.Now}
	if _, err := svcInf.Informer().AddEventHandler(events.ServiceHandler()); err != nil {
		return nil, fmt.Errorf("watch services: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(events.PodHandler()); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	// A deleted Endpoints object of a selector service is recreated.
	if _, err := epInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj interface{}) { controllers.Enqueue(ec.queue, obj) },
	}); err != nil {
		return nil, fmt.Errorf("watch endpoints: %w", err)
	}
	return ec, nil
}

// Run waits for the caches and runs workers until ctx ends.
func (ec *Controller) Run(ctx context.Context, workers int) {
	controllers.RunWorkers(ctx, Name, max(workers, 1), ec.queue, servicepods.IgnoreTerminatingNamespace(ec.sync), ec.log, ec.synced...)
}
