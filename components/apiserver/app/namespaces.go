package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubelab/kubelab/components/apiserver/registry"
)

// namespaceLifecycle is upstream's NamespaceLifecycle admission: new
// objects need an existing namespace that is not terminating. Active
// namespaces are known from a watch, so the common case reads no etcd;
// anything the watch has not shown as active is checked against storage.
type namespaceLifecycle struct {
	store *registry.Store

	mu     sync.RWMutex
	active map[string]bool
}

func newNamespaceLifecycle(store *registry.Store) *namespaceLifecycle {
	return &namespaceLifecycle{store: store, active: map[string]bool{}}
}

// run keeps the set of active namespaces until ctx ends.
func (n *namespaceLifecycle) run(ctx context.Context) {
	for ctx.Err() == nil {
		events, err := n.store.Watch(ctx, "", registry.WatchOptions{})
		if err != nil {
			slog.Warn("namespace watch failed", "err", err)
			time.Sleep(time.Second)
			continue
		}
		for ev := range events {
			ns, ok := ev.Object.(*corev1.Namespace)
			if !ok {
				continue
			}
			n.mu.Lock()
			if ev.Type == watch.Deleted || ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
				delete(n.active, ns.Name)
			} else {
				n.active[ns.Name] = true
			}
			n.mu.Unlock()
		}
		n.mu.Lock()
		clear(n.active) // the stream ended: trust storage until it is rebuilt
		n.mu.Unlock()
	}
}

// admit reports an API error when objects may not be created in ns.
func (n *namespaceLifecycle) admit(ctx context.Context, ns string) error {
	n.mu.RLock()
	ok := n.active[ns]
	n.mu.RUnlock()
	if ok {
		return nil
	}
	obj, err := n.store.Get(ctx, "", ns)
	if err != nil {
		return err
	}
	if nsObj := obj.(*corev1.Namespace); nsObj.Status.Phase == corev1.NamespaceTerminating || nsObj.DeletionTimestamp != nil {
		err := apierrors.NewForbidden(corev1.Resource("namespaces"), ns,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: corev1.NamespaceTerminatingCause, Message: fmt.Sprintf("namespace %s is being terminated", ns), Field: "metadata.namespace"})
		return err
	}
	return nil
}
