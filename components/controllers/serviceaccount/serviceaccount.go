// Package serviceaccount ensures every active namespace has the `default`
// ServiceAccount, recreating it if it is deleted, as upstream's
// serviceaccounts controller does.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
)

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// Controller keeps the default ServiceAccount in every namespace.
type Controller struct {
	client   kubernetes.Interface
	nsLister corelisters.NamespaceLister
	saLister corelisters.ServiceAccountLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	log      *slog.Logger
}

// New builds the controller on the shared informers.
func New(_ context.Context, c *controllers.Context) (controllers.Controller, error) {
	ns := c.Informers.Core().V1().Namespaces()
	sa := c.Informers.Core().V1().ServiceAccounts()
	ctl := &Controller{
		client:   c.Client,
		nsLister: ns.Lister(),
		saLister: sa.Lister(),
		synced:   []cache.InformerSynced{ns.Informer().HasSynced, sa.Informer().HasSynced},
		queue:    controllers.NewQueue[string]("serviceaccount"),
		log:      slog.Default().With("controller", "serviceaccount"),
	}
	enqueueNS := func(obj interface{}) {
		if n, ok := obj.(*corev1.Namespace); ok {
			ctl.queue.Add(n.Name)
		}
	}
	if _, err := ns.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueNS,
		UpdateFunc: func(_, obj interface{}) { enqueueNS(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watch namespaces: %w", err)
	}
	if _, err := sa.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj interface{}) {
			if s, ok := controllers.DeletedObject[*corev1.ServiceAccount](obj); ok && s.Name == DefaultName {
				ctl.queue.Add(s.Namespace)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch serviceaccounts: %w", err)
	}
	return ctl, nil
}

// Run implements controllers.Controller.
func (c *Controller) Run(ctx context.Context, workers int) {
	controllers.RunWorkers(ctx, "serviceaccount", workers, c.queue, c.sync, c.log, c.synced...)
}

// sync creates the default ServiceAccount in namespace ns if it is missing.
func (c *Controller) sync(ctx context.Context, ns string) error {
	namespace, err := c.nsLister.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if namespace.Status.Phase != corev1.NamespaceActive || namespace.DeletionTimestamp != nil {
		return nil
	}
	if _, err := c.saLister.ServiceAccounts(ns).Get(DefaultName); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	_, err = c.client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) || (err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)) {
		return nil
	}
	return err
}
