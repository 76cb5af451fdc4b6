// Package namespace finishes namespace deletion as upstream's namespace
// controller does: once a namespace has a deletionTimestamp it deletes every
// namespaced object in it, waits until they are gone (pods may take their
// grace period), then removes the "kubernetes" finalizer so the API server
// deletes the namespace.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
)

// contentRetry is how soon a namespace whose content is still going away is
// looked at again.
var contentRetry = time.Second

// Controller deletes the content of terminating namespaces.
type Controller struct {
	client    kubernetes.Interface
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	lister    corelisters.NamespaceLister
	synced    cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	log       *slog.Logger
}

// New builds the controller on the shared informers.
func New(_ context.Context, c *controllers.Context) (controllers.Controller, error) {
	ns := c.Informers.Core().V1().Namespaces()
	ctl := &Controller{
		client:    c.Client,
		metadata:  c.Metadata,
		discovery: c.Client.Discovery(),
		lister:    ns.Lister(),
		synced:    ns.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
		log: slog.Default().With("controller", "namespace"),
	}
	enqueue := func(obj interface{}) {
		if n, ok := obj.(*corev1.Namespace); ok && n.DeletionTimestamp != nil {
			ctl.queue.Add(n.Name)
		}
	}
	if _, err := ns.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj interface{}) { enqueue(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watch namespaces: %w", err)
	}
	return ctl, nil
}

// Run implements controllers.Controller.
func (c *Controller) Run(ctx context.Context, workers int) {
	controllers.RunWorkers(ctx, "namespace", workers, c.queue, c.sync, c.log, c.synced)
}

// sync deletes the content of a terminating namespace and finalizes it
// once empty.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil || !hasFinalizer(ns) {
		return nil
	}
	resources, err := c.deletableResources()
	if err != nil {
		return fmt.Errorf("discover namespaced resources: %w", err)
	}
	remaining := 0
	var errs []error
	for _, gvr := range resources {
		n, err := c.deleteAll(ctx, gvr, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", gvr, err))
		}
		remaining += n
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if remaining > 0 {
		return controllers.RequeueAfter(contentRetry)
	}
	return c.finalize(ctx, ns)
}

// deletableResources lists the namespaced resources that support list and
// deletecollection, preferred versions only.
func (c *Controller) deletableResources() ([]schema.GroupVersionResource, error) {
	lists, err := c.discovery.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, err
	}
	var out []schema.GroupVersionResource
	seen := sets.New[string]()
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			verbs := sets.New(r.Verbs...)
			if !verbs.HasAll("list", "delete") || seen.Has(gv.Group+"/"+r.Name) {
				continue
			}
			seen.Insert(gv.Group + "/" + r.Name)
			out = append(out, gv.WithResource(r.Name))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// deleteAll deletes every object of gvr in ns (background propagation) and
// returns how many are still there.
func (c *Controller) deleteAll(ctx context.Context, gvr schema.GroupVersionResource, ns string) (int, error) {
	client := c.metadata.Resource(gvr).Namespace(ns)
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(list.Items) == 0 {
		return 0, nil
	}
	bg := metav1.DeletePropagationBackground
	for _, item := range list.Items {
		if item.DeletionTimestamp != nil {
			continue
		}
		err := client.Delete(ctx, item.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return len(list.Items), err
		}
	}
	after, err := client.List(ctx, metav1.ListOptions{})
	if err != nil {
		return len(list.Items), err
	}
	return len(after.Items), nil
}

func hasFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return true
		}
	}
	return false
}

// finalize removes the kubernetes finalizer through namespaces/finalize.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	out := ns.DeepCopy()
	out.Spec.Finalizers = nil
	for _, f := range ns.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			out.Spec.Finalizers = append(out.Spec.Finalizers, f)
		}
	}
	_, err := c.client.CoreV1().Namespaces().Finalize(ctx, out, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if apierrors.IsConflict(err) {
		return controllers.RequeueAfter(contentRetry)
	}
	return err
}
