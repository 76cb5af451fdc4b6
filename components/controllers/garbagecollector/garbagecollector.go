// Package garbagecollector deletes objects whose owners are gone and
// carries out the propagation policies the API server records as
// finalizers, as upstream's garbage collector does:
//
//   - background: once an owner is gone, its dependents are deleted;
//   - foreground (finalizer foregroundDeletion): an owner being deleted
//     stays until every dependent blocking it (blockOwnerDeletion) is gone;
//     its dependents are deleted, themselves in the foreground when they
//     have dependents of their own;
//   - orphan (finalizer orphan): the owner's references are removed from its
//     dependents, then the finalizer.
//
// It watches every listable, deletable resource through metadata-only
// informers and keeps an ownership graph in memory.
package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
)

// Controller is the garbage collector.
type Controller struct {
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	informers metadatainformer.SharedInformerFactory
	graph     *graph
	// kinds maps "apiVersion/kind" to its resource and scope.
	kinds  map[string]kindInfo
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[types.UID]
	log    *slog.Logger
}

// foregroundRetry is how soon an owner deleted in the foreground is looked
// at again while dependents still block it.
const foregroundRetry = 500 * time.Millisecond

type kindInfo struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}

// New discovers the resources to watch and registers metadata informers.
func New(ctx context.Context, c *controllers.Context) (controllers.Controller, error) {
	ctl := &Controller{
		metadata: c.Metadata, discovery: c.Client.Discovery(), informers: c.MetadataInformers,
		graph: newGraph(), kinds: map[string]kindInfo{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](50*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbagecollector"}),
		log: slog.Default().With("controller", "garbagecollector"),
	}
	lists, err := ctl.discovery.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discover resources: %w", err)
	}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			verbs := sets.New(r.Verbs...)
			if !verbs.HasAll("list", "watch", "delete") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			key := gv.String() + "/" + r.Kind
			if _, dup := ctl.kinds[key]; dup {
				continue
			}
			ctl.kinds[key] = kindInfo{gvr: gvr, namespaced: r.Namespaced}
			inf := c.MetadataInformers.ForResource(gvr).Informer()
			if _, err := inf.AddEventHandler(ctl.handler(gvr, gv.String(), r.Kind)); err != nil {
				return nil, fmt.Errorf("watch %s: %w", gvr, err)
			}
			ctl.synced = append(ctl.synced, inf.HasSynced)
		}
	}
	return ctl, nil
}

func (c *Controller) handler(gvr schema.GroupVersionResource, apiVersion, kind string) cache.ResourceEventHandler {
	observe := func(obj interface{}) {
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok {
			return
		}
		n := &node{uid: m.UID, gvr: gvr, apiVersion: apiVersion, kind: kind, namespace: m.Namespace, name: m.Name,
			owners: m.OwnerReferences, finalizers: m.Finalizers, deleting: m.DeletionTimestamp != nil}
		changed := c.graph.upsert(n)
		if len(n.owners) > 0 || n.deleting {
			c.queue.Add(n.uid)
		}
		for _, o := range changed {
			c.queue.Add(o)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj interface{}) { observe(obj) },
		DeleteFunc: func(obj interface{}) {
			m, ok := controllers.DeletedObject[*metav1.PartialObjectMetadata](obj)
			if !ok {
				return
			}
			deps, owners := c.graph.remove(m.UID)
			for _, u := range append(deps, owners...) {
				c.queue.Add(u)
			}
		},
	}
}

// Run implements controllers.Controller.
func (c *Controller) Run(ctx context.Context, workers int) {
	controllers.RunWorkers(ctx, "garbagecollector", workers, c.queue, c.sync, c.log, c.synced...)
}

// sync handles one object: finishes its orphaning or foreground deletion,
// or deletes it when its owners are gone.
func (c *Controller) sync(ctx context.Context, uid types.UID) error {
	n, ok := c.graph.get(uid)
	if !ok {
		return nil
	}
	if n.virtual {
		return c.checkVirtual(ctx, n)
	}
	switch {
	case n.deleting && n.hasFinalizer(metav1.FinalizerOrphanDependents):
		return c.orphanDependents(ctx, n)
	case n.deleting && n.hasFinalizer(metav1.FinalizerDeleteDependents):
		return c.deleteDependentsInForeground(ctx, n)
	}
	if len(n.owners) == 0 {
		return nil
	}
	return c.checkOwners(ctx, n)
}

// ownerState is an owner reference's fate.
type ownerState int

const (
	ownerSolid   ownerState = iota // exists and is not waiting for dependents
	ownerWaiting                   // being deleted in the foreground
	ownerGone                      // absent, or a different object of that name
)

func (c *Controller) ownerState(ctx context.Context, namespace string, ref metav1.OwnerReference) (ownerState, error) {
	if o, ok := c.graph.get(ref.UID); ok && !o.virtual {
		if o.deleting && o.hasFinalizer(metav1.FinalizerDeleteDependents) {
			return ownerWaiting, nil
		}
		return ownerSolid, nil
	}
	info, ok := c.kinds[ref.APIVersion+"/"+ref.Kind]
	if !ok {
		return ownerSolid, nil // unknown kind: never delete on a guess
	}
	ns := namespace
	if !info.namespaced {
		ns = ""
	}
	live, err := c.metadata.Resource(info.gvr).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ownerGone, nil
	}
	if err != nil {
		return ownerSolid, err
	}
	if live.UID != ref.UID {
		return ownerGone, nil
	}
	if live.DeletionTimestamp != nil && hasString(live.Finalizers, metav1.FinalizerDeleteDependents) {
		return ownerWaiting, nil
	}
	return ownerSolid, nil
}

// checkOwners deletes n when none of its owners remains, or drops references
// to gone owners while solid ones remain.
func (c *Controller) checkOwners(ctx context.Context, n snapshot) error {
	var solid, waiting, gone []metav1.OwnerReference
	for _, ref := range n.owners {
		st, err := c.ownerState(ctx, n.namespace, ref)
		if err != nil {
			return err
		}
		switch st {
		case ownerSolid:
			solid = append(solid, ref)
		case ownerWaiting:
			waiting = append(waiting, ref)
		default:
			gone = append(gone, ref)
		}
	}
	switch {
	case len(solid) > 0:
		if len(gone)+len(waiting) == 0 {
			return nil
		}
		return c.removeOwnerRefs(ctx, n, append(gone, waiting...))
	case len(waiting) > 0:
		policy := metav1.DeletePropagationBackground
		if c.graph.hasDependents(n.uid) {
			policy = metav1.DeletePropagationForeground
		}
		return c.delete(ctx, n, policy)
	default:
		if n.deleting {
			return nil
		}
		policy := metav1.DeletePropagationBackground
		switch {
		case n.hasFinalizer(metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case n.hasFinalizer(metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		return c.delete(ctx, n, policy)
	}
}

func (c *Controller) delete(ctx context.Context, n snapshot, policy metav1.DeletionPropagation) error {
	if n.deleting && policy != metav1.DeletePropagationForeground {
		return nil
	}
	uid := n.uid
	err := c.metadata.Resource(n.gvr).Namespace(n.namespace).Delete(ctx, n.name,
		metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err == nil {
		slog.Debug("garbage collector deleted object", "resource", n.gvr.Resource, "namespace", n.namespace, "name", n.name, "propagation", policy)
	}
	return err
}

// deleteDependentsInForeground deletes n's dependents and removes its
// foregroundDeletion finalizer once none blocks it.
func (c *Controller) deleteDependentsInForeground(ctx context.Context, n snapshot) error {
	for _, d := range n.dependentList {
		if d.virtual || d.deleting && !c.graph.hasDependents(d.uid) {
			continue
		}
		policy := metav1.DeletePropagationBackground
		if c.graph.hasDependents(d.uid) {
			policy = metav1.DeletePropagationForeground
		}
		if err := c.delete(ctx, d, policy); err != nil {
			return err
		}
	}
	if c.graph.blocking(n.uid) > 0 {
		return controllers.RequeueAfter(foregroundRetry)
	}
	return c.removeFinalizer(ctx, n, metav1.FinalizerDeleteDependents)
}

// orphanDependents removes n's references from its dependents, then the
// orphan finalizer.
func (c *Controller) orphanDependents(ctx context.Context, n snapshot) error {
	for _, d := range n.dependentList {
		if d.virtual {
			continue
		}
		if err := c.removeOwnerRefs(ctx, d, []metav1.OwnerReference{{UID: n.uid}}); err != nil {
			return err
		}
	}
	return c.removeFinalizer(ctx, n, metav1.FinalizerOrphanDependents)
}

// checkVirtual looks up an owner never observed: when it does not exist its
// dependents are rechecked (they will find it gone).
func (c *Controller) checkVirtual(ctx context.Context, n snapshot) error {
	for _, d := range n.dependentList {
		c.queue.Add(d.uid)
	}
	return nil
}

// removeOwnerRefs drops the references to owners from n with a strategic
// merge patch keyed by uid, guarded by n's uid.
func (c *Controller) removeOwnerRefs(ctx context.Context, n snapshot, owners []metav1.OwnerReference) error {
	var refs []map[string]interface{}
	for _, o := range owners {
		refs = append(refs, map[string]interface{}{"$patch": "delete", "uid": o.UID})
	}
	data, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"ownerReferences": refs, "uid": n.uid}})
	_, err := c.metadata.Resource(n.gvr).Namespace(n.namespace).Patch(ctx, n.name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// removeFinalizer removes finalizer from n, guarded by n's uid.
func (c *Controller) removeFinalizer(ctx context.Context, n snapshot, finalizer string) error {
	client := c.metadata.Resource(n.gvr).Namespace(n.namespace)
	for attempt := 0; attempt < 5; attempt++ {
		live, err := client.Get(ctx, n.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if live.UID != n.uid || !hasString(live.Finalizers, finalizer) {
			return nil
		}
		var keep []string
		for _, f := range live.Finalizers {
			if f != finalizer {
				keep = append(keep, f)
			}
		}
		data, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
			"finalizers": keep, "resourceVersion": live.ResourceVersion}})
		_, err = client.Patch(ctx, n.name, types.MergePatchType, data, metav1.PatchOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	return fmt.Errorf("remove finalizer %s from %s/%s: too many conflicts", finalizer, n.namespace, n.name)
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
