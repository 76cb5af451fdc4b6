// Package replicaset keeps spec.replicas pods running for every ReplicaSet,
// as upstream's replicaset controller does: it adopts orphans matching the
// selector and releases pods that stop matching, creates missing pods in
// slow-start batches and deletes extra ones (least valuable first), and
// reports replicas, fullyLabeledReplicas, readyReplicas, availableReplicas
// and observedGeneration in the status.
//
// The controller works on a ReplicaSet view of its objects through a Kind,
// so the replicationcontroller package runs this same controller over
// ReplicationControllers (whose map selector becomes matchLabels).
package replicaset

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/ownership"
)

// BurstReplicas is upstream's cap on the pods one sync creates or deletes.
const BurstReplicas = 500

// Kind adapts a replica-set-like kind to the controller.
type Kind struct {
	// GVK is the controlled kind, written into pods' ownerReferences and
	// matched against them.
	GVK schema.GroupVersionKind
	// Component names the controller in events and logs.
	Component string
	// Informer delivers the controlled objects; its indexer must have the
	// namespace index (typed factory informers do).
	Informer cache.SharedIndexInformer
	// Convert returns the ReplicaSet view of an object from Informer. The
	// view may share memory with the cache and must not be mutated. Its
	// TypeMeta, when set, names the real kind for events.
	Convert func(obj any) (*appsv1.ReplicaSet, bool)
	// Get reads the object from the API server, bypassing the cache (the
	// recheck before adopting pods).
	Get func(ctx context.Context, namespace, name string) (metav1.Object, error)
	// UpdateStatus writes rs.Status to the object rs is a view of and
	// returns the updated view.
	UpdateStatus func(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error)
	// TerminatingReplicas is set when the kind reports
	// status.terminatingReplicas (ReplicaSets do, ReplicationControllers not).
	TerminatingReplicas bool
}

// Controller is the replica set controller over one Kind.
type Controller struct {
	kind         Kind
	client       kubernetes.Interface
	podLister    corelisters.PodLister
	recorder     record.EventRecorder
	expectations *ownership.TrackedExpectations
	queue        workqueue.TypedRateLimitingInterface[string]
	synced       []cache.InformerSynced
	burst        int
	now          func() time.Time
	log          *slog.Logger
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the ReplicaSet controller on the shared informers.
func New(ctx context.Context, c *controllers.Context) (controllers.Controller, error) {
	inf := c.Informers.Apps().V1().ReplicaSets().Informer()
	client := c.Client
	return NewFor(ctx, c, Kind{
		GVK:       appsv1.SchemeGroupVersion.WithKind("ReplicaSet"),
		Component: "replicaset-controller",
		Informer:  inf,
		Convert: func(obj any) (*appsv1.ReplicaSet, bool) {
			rs, ok := obj.(*appsv1.ReplicaSet)
			return rs, ok
		},
		Get: func(ctx context.Context, ns, name string) (metav1.Object, error) {
			return client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		},
		UpdateStatus: func(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
			return client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
		},
		TerminatingReplicas: true,
	})
}

// NewFor builds the controller over kind, registering its event handlers
// on kind.Informer and the shared pod informer.
func NewFor(_ context.Context, c *controllers.Context, kind Kind) (*Controller, error) {
	pods := c.Informers.Core().V1().Pods()
	ctl := &Controller{
		kind:         kind,
		client:       c.Client,
		podLister:    pods.Lister(),
		expectations: ownership.NewTrackedExpectations(),
		queue:        controllers.NewQueue[string](kind.Component),
		synced:       []cache.InformerSynced{kind.Informer.HasSynced, pods.Informer().HasSynced},
		burst:        BurstReplicas,
		now:          time.Now,
		log:          slog.With("controller", kind.Component),
	}
	if c.Recorder != nil {
		ctl.recorder = c.Recorder(kind.Component)
	} else {
		ctl.recorder = &record.FakeRecorder{}
	}
	if _, err := kind.Informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.addOwner,
		UpdateFunc: ctl.updateOwner,
		DeleteFunc: ctl.deleteOwner,
	}); err != nil {
		return nil, fmt.Errorf("watch %s: %w", kind.GVK.Kind, err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.addPod,
		UpdateFunc: ctl.updatePod,
		DeleteFunc: ctl.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	return ctl, nil
}

// Run implements controllers.Controller.
func (c *Controller) Run(ctx context.Context, workers int) {
	controllers.RunWorkers(ctx, c.kind.Component, workers, c.queue, c.sync, c.log, c.synced...)
}

// get returns the ReplicaSet view of the cached object under key.
func (c *Controller) get(key string) (*appsv1.ReplicaSet, error) {
	obj, exists, err := c.kind.Informer.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return nil, err
	}
	rs, ok := c.kind.Convert(obj)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T under %s", obj, key)
	}
	return rs, nil
}

// inNamespace returns the ReplicaSet views of the cached objects in ns.
func (c *Controller) inNamespace(ns string) []*appsv1.ReplicaSet {
	objs, err := c.kind.Informer.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	if err != nil {
		c.log.Error("list by namespace", "namespace", ns, "err", err)
		return nil
	}
	out := make([]*appsv1.ReplicaSet, 0, len(objs))
	for _, o := range objs {
		if rs, ok := c.kind.Convert(o); ok {
			out = append(out, rs)
		}
	}
	return out
}

func replicasOf(rs *appsv1.ReplicaSet) int {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return int(*rs.Spec.Replicas)
}
