package servicepods

import (
	"context"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
)

// Events turns Service and pod events into the keys (namespace/name) of
// the services whose endpoints they change, recording when each change
// happened for the last-change-trigger-time annotation.
type Events struct {
	// Services lists the services a pod may belong to.
	Services corelisters.ServiceLister
	// Queue receives the service keys.
	Queue workqueue.TypedInterface[string]
	// Triggers records the change times.
	Triggers *TriggerTracker
	// Now is the time of a change that carries none of its own.
	Now func() time.Time
}

// Enqueue queues the service key, recording a change at at.
func (e *Events) Enqueue(key string, at time.Time) {
	e.Triggers.Record(key, at)
	e.Queue.Add(key)
}

// ServiceHandler handles the events of the service informer: a new
// service changed when it was created, an updated one now; a deleted one
// is queued for its endpoints to be cleaned up.
func (e *Events) ServiceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if svc, ok := obj.(*corev1.Service); ok {
				e.Enqueue(svc.Namespace+"/"+svc.Name, svc.CreationTimestamp.Time)
			}
		},
		UpdateFunc: func(_, cur any) {
			if svc, ok := cur.(*corev1.Service); ok {
				e.Enqueue(svc.Namespace+"/"+svc.Name, e.Now())
			}
		},
		DeleteFunc: func(obj any) { controllers.Enqueue(e.Queue, obj) },
	}
}

// PodHandler handles the events of the pod informer: the services
// selecting a pod (before and after a label change) are queued when the
// pod's addresses may have changed.
func (e *Events) PodHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{AddFunc: e.addPod, UpdateFunc: e.updatePod, DeleteFunc: e.deletePod}
}

func (e *Events) enqueueForPod(pod *corev1.Pod, at time.Time) {
	for _, key := range ServicesForPod(e.Services, pod) {
		e.Enqueue(key, at)
	}
}

func (e *Events) addPod(obj any) {
	if pod, ok := obj.(*corev1.Pod); ok {
		e.enqueueForPod(pod, TriggerTime(pod))
	}
}

func (e *Events) updatePod(oldObj, curObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	cur, ok2 := curObj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	labelsChanged := !maps.Equal(old.Labels, cur.Labels)
	if !labelsChanged && !PodChanged(old, cur) {
		return
	}
	at := e.Now()
	if IsPodReady(old) != IsPodReady(cur) {
		at = TriggerTime(cur)
	}
	e.enqueueForPod(cur, at)
	if labelsChanged {
		e.enqueueForPod(old, at)
	}
}

func (e *Events) deletePod(obj any) {
	if pod, ok := controllers.DeletedObject[*corev1.Pod](obj); ok {
		e.enqueueForPod(pod, e.Now())
	}
}

// IgnoreTerminatingNamespace wraps sync so that a write refused because
// the service's namespace is terminating is not retried: the service goes
// away with the namespace.
func IgnoreTerminatingNamespace(sync controllers.SyncFunc[string]) controllers.SyncFunc[string] {
	return func(ctx context.Context, key string) error {
		err := sync(ctx, key)
		if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		return err
	}
}
