package controllers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// NewQueue returns a rate-limited workqueue named name with client-go's
// default controller rate limiter (per-key exponential backoff from 5ms to
// 1000s, within an overall 10 qps bucket).
func NewQueue[T comparable](name string) workqueue.TypedRateLimitingInterface[T] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[T](),
		workqueue.TypedRateLimitingQueueConfig[T]{Name: name})
}

// SyncFunc brings the object under key to its desired state. A failure
// (an error) puts key back with backoff; RequeueAfter asks for another
// look after a fixed delay.
type SyncFunc[T comparable] func(ctx context.Context, key T) error

// RequeueAfter returns what a SyncFunc returns to have its key processed
// again after d without counting a failure: the key's backoff is reset and
// nothing is logged. It is for work waiting on something else (objects
// still going away, a cache not caught up yet).
func RequeueAfter(d time.Duration) error { return requeueAfter(d) }

type requeueAfter time.Duration

func (r requeueAfter) Error() string { return "requeue after " + time.Duration(r).String() }

// RunWorkers is the Run of a controller with one queue: it waits for the
// informer caches (name names the controller in the wait's log), runs
// workers goroutines handing the keys of queue to sync, and blocks until
// ctx ends, then shuts queue down.
func RunWorkers[T comparable](ctx context.Context, name string, workers int, queue workqueue.TypedRateLimitingInterface[T],
	sync SyncFunc[T], log *slog.Logger, synced ...cache.InformerSynced) {
	defer utilruntime.HandleCrash()
	defer queue.ShutDown()
	log.Info("starting controller")
	defer log.Info("stopped controller")
	if !cache.WaitForNamedCacheSync(name, ctx.Done(), synced...) {
		return
	}
	StartWorkers(ctx, workers, queue, sync, log)
	<-ctx.Done()
}

// StartWorkers starts n goroutines handing the keys of queue to sync and
// returns; they stop once ctx ends and the caller shuts queue down. A
// successful key is forgotten by the rate limiter, a failed one is put
// back with backoff (conflicts, which the next try against a fresher
// cache resolves, are logged at debug level only).
func StartWorkers[T comparable](ctx context.Context, n int, queue workqueue.TypedRateLimitingInterface[T], sync SyncFunc[T], log *slog.Logger) {
	for range n {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for processNextWorkItem(ctx, queue, sync, log) {
			}
		}, time.Second)
	}
}

// processNextWorkItem syncs the next key of queue; it reports false once
// queue is shut down.
func processNextWorkItem[T comparable](ctx context.Context, queue workqueue.TypedRateLimitingInterface[T], sync SyncFunc[T], log *slog.Logger) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	err := sync(ctx, key)
	var after requeueAfter
	switch {
	case err == nil:
		queue.Forget(key)
	case errors.As(err, &after):
		queue.Forget(key)
		queue.AddAfter(key, time.Duration(after))
	case apierrors.IsConflict(err):
		log.Debug("sync conflict, requeued", "key", key, "err", err)
		queue.AddRateLimited(key)
	default:
		log.Warn("sync failed, requeued", "key", key, "err", err)
		queue.AddRateLimited(key)
	}
	return true
}

// Enqueue adds the namespace/name key of an informer's object to queue
// (for a tombstone, the key of the object deleted unseen).
func Enqueue(queue workqueue.TypedInterface[string], obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	queue.Add(key)
}

// DeletedObject returns the object of an informer's delete event as a T,
// unwrapping the tombstone (cache.DeletedFinalStateUnknown) the informer
// hands over for a deletion it did not see; ok is false when it is no T.
func DeletedObject[T any](obj any) (T, bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	v, ok := obj.(T)
	return v, ok
}
