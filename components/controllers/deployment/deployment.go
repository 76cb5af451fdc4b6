// Package deployment rolls Deployments out through ReplicaSets, as
// upstream's deployment controller does: one ReplicaSet per pod template
// (named and labelled with the template's pod-template-hash), rolling
// updates within maxSurge/maxUnavailable or Recreate, revisions and their
// history for rollbacks, proportional scaling during a rollout, pause, and
// the Progressing and Available conditions `kubectl rollout status` reads.
package deployment

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
)

// Component names the controller in events.
const Component = "deployment-controller"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller is the deployment controller.
type Controller struct {
	client    kubernetes.Interface
	dLister   appslisters.DeploymentLister
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	recorder  record.EventRecorder
	queue     workqueue.TypedRateLimitingInterface[string]
	synced    []cache.InformerSynced
	now       func() time.Time
	log       *slog.Logger
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the deployment controller on the shared informers.
func New(_ context.Context, c *controllers.Context) (controllers.Controller, error) {
	d := c.Informers.Apps().V1().Deployments()
	rs := c.Informers.Apps().V1().ReplicaSets()
	pods := c.Informers.Core().V1().Pods()
	ctl := &Controller{
		client:    c.Client,
		dLister:   d.Lister(),
		rsLister:  rs.Lister(),
		podLister: pods.Lister(),
		queue:     controllers.NewQueue[string]("deployment"),
		synced:    []cache.InformerSynced{d.Informer().HasSynced, rs.Informer().HasSynced, pods.Informer().HasSynced},
		now:       time.Now,
		log:       slog.With("controller", Component),
	}
	if c.Recorder != nil {
		ctl.recorder = c.Recorder(Component)
	} else {
		ctl.recorder = &record.FakeRecorder{}
	}
	if _, err := d.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.enqueue,
		UpdateFunc: func(_, cur any) { ctl.enqueue(cur) },
		DeleteFunc: ctl.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("watch deployments: %w", err)
	}
	if _, err := rs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.addReplicaSet,
		UpdateFunc: ctl.updateReplicaSet,
		DeleteFunc: ctl.deleteReplicaSet,
	}); err != nil {
		return nil, fmt.Errorf("watch replicasets: %w", err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: ctl.deletePod}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	return ctl, nil
}

// Run implements controllers.Controller.
func (c *Controller) Run(ctx context.Context, workers int) {
	controllers.RunWorkers(ctx, "deployment", workers, c.queue, c.sync, c.log, c.synced...)
}

func (c *Controller) enqueue(obj any) { controllers.Enqueue(c.queue, obj) }

func (c *Controller) enqueueAfter(d *appsv1.Deployment, after time.Duration) {
	c.queue.AddAfter(d.Namespace+"/"+d.Name, after)
}

// resolve returns the deployment ref names in ns if it is the one meant.
func (c *Controller) resolve(ns string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	d, err := c.dLister.Deployments(ns).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// deploymentsFor returns the deployments whose selector selects an orphan rs.
func (c *Controller) deploymentsFor(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	ds, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range ds {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(rs.Labels)) {
			out = append(out, d)
		}
	}
	return out
}

func (c *Controller) addReplicaSet(obj any) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if rs.DeletionTimestamp != nil {
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolve(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
		return
	}
	for _, d := range c.deploymentsFor(rs) {
		c.enqueue(d)
	}
}

func (c *Controller) updateReplicaSet(old, cur any) {
	oldRS, ok1 := old.(*appsv1.ReplicaSet)
	curRS, ok2 := cur.(*appsv1.ReplicaSet)
	if !ok1 || !ok2 || oldRS.ResourceVersion == curRS.ResourceVersion {
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(oldRS), metav1.GetControllerOfNoCopy(curRS)
	refChanged := (oldRef == nil) != (curRef == nil) || (oldRef != nil && oldRef.UID != curRef.UID)
	if refChanged && oldRef != nil {
		if d := c.resolve(oldRS.Namespace, oldRef); d != nil {
			c.enqueue(d)
		}
	}
	if curRef != nil {
		if d := c.resolve(curRS.Namespace, curRef); d != nil {
			c.enqueue(d)
		}
		return
	}
	if refChanged || !labels.Equals(oldRS.Labels, curRS.Labels) {
		for _, d := range c.deploymentsFor(curRS) {
			c.enqueue(d)
		}
	}
}

func (c *Controller) deleteReplicaSet(obj any) {
	rs, ok := controllers.DeletedObject[*appsv1.ReplicaSet](obj)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolve(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
	}
}

// deletePod wakes a Recreate deployment, which waits for its old pods to
// be gone before it creates new ones.
func (c *Controller) deletePod(obj any) {
	pod, ok := controllers.DeletedObject[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	dref := metav1.GetControllerOfNoCopy(rs)
	if dref == nil {
		return
	}
	if d := c.resolve(rs.Namespace, dref); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.enqueue(d)
	}
}
