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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
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
	now       func() time.Time
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
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name}),
		triggers: servicepods.NewTriggerTracker(),
		recorder: c.Recorder("endpoint-controller"),
		log:      slog.Default().With("controller", Name),
		now:      time.Now,
	}
	if _, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if svc, ok := obj.(*corev1.Service); ok {
				ec.enqueueService(svc, svc.CreationTimestamp.Time)
			}
		},
		UpdateFunc: func(_, cur interface{}) {
			if svc, ok := cur.(*corev1.Service); ok {
				ec.enqueueService(svc, ec.now())
			}
		},
		DeleteFunc: func(obj interface{}) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				ec.queue.Add(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch services: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ec.addPod,
		UpdateFunc: ec.updatePod,
		DeleteFunc: ec.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	// A deleted Endpoints object of a selector service is recreated.
	if _, err := epInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj interface{}) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				ec.queue.Add(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch endpoints: %w", err)
	}
	return ec, nil
}

func (ec *Controller) enqueueService(svc *corev1.Service, at time.Time) {
	key := svc.Namespace + "/" + svc.Name
	ec.triggers.Record(key, at)
	ec.queue.Add(key)
}

func (ec *Controller) enqueueForPod(pod *corev1.Pod, at time.Time) {
	for _, key := range servicepods.ServicesForPod(ec.services, pod) {
		ec.triggers.Record(key, at)
		ec.queue.Add(key)
	}
}

func (ec *Controller) addPod(obj interface{}) {
	if pod, ok := obj.(*corev1.Pod); ok {
		ec.enqueueForPod(pod, servicepods.TriggerTime(pod))
	}
}

func (ec *Controller) updatePod(oldObj, curObj interface{}) {
	old, ok1 := oldObj.(*corev1.Pod)
	cur, ok2 := curObj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	labelsChanged := !mapsEqual(old.Labels, cur.Labels)
	if !labelsChanged && !servicepods.PodChanged(old, cur) {
		return
	}
	at := ec.now()
	if servicepods.IsPodReady(old) != servicepods.IsPodReady(cur) {
		at = servicepods.TriggerTime(cur)
	}
	ec.enqueueForPod(cur, at)
	if labelsChanged {
		ec.enqueueForPod(old, at)
	}
}

func (ec *Controller) deletePod(obj interface{}) {
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
	ec.enqueueForPod(pod, ec.now())
}

func mapsEqual(a, b map[string]string) bool {
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
func (ec *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer ec.queue.ShutDown()
	ec.log.Info("starting controller")
	defer ec.log.Info("stopped controller")
	if !cache.WaitForNamedCacheSync(Name, ctx.Done(), ec.synced...) {
		return
	}
	for i := 0; i < max(workers, 1); i++ {
		go wait.UntilWithContext(ctx, ec.worker, time.Second)
	}
	<-ctx.Done()
}

func (ec *Controller) worker(ctx context.Context) {
	for ec.processNextWorkItem(ctx) {
	}
}

func (ec *Controller) processNextWorkItem(ctx context.Context) bool {
	key, quit := ec.queue.Get()
	if quit {
		return false
	}
	defer ec.queue.Done(key)
	if err := ec.sync(ctx, key); err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			ec.queue.Forget(key)
			return true
		}
		ec.log.Warn("sync failed, requeued", "service", key, "err", err)
		ec.queue.AddRateLimited(key)
		return true
	}
	ec.queue.Forget(key)
	return true
}
