// Package podgc is the pod garbage collector: it deletes terminated pods
// beyond --terminated-pod-gc-threshold (oldest first), pods bound to nodes
// that no longer exist (after a quarantine, checked against the API
// server), terminating pods that were never scheduled, and terminating
// pods on not-ready nodes tainted node.kubernetes.io/out-of-service.
package podgc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
)

// Name is the controller's name for --controllers and its events.
const Name = "podgc"

// Options tune the collector beyond the shared controller options.
type Options struct {
	// Period is how often pods are collected (upstream's gcCheckPeriod, 20s).
	Period time.Duration
	// Quarantine is how long a node must be missing before its pods are
	// deleted (upstream's quarantineTime, 40s).
	Quarantine time.Duration
	// Parallelism bounds concurrent deletes (10).
	Parallelism int
}

// DefaultOptions are upstream's.
func DefaultOptions() Options {
	return Options{Period: 20 * time.Second, Quarantine: 40 * time.Second, Parallelism: 10}
}

// Controller collects pods.
type Controller struct {
	client      kubernetes.Interface
	pods        corelisters.PodLister
	nodes       corelisters.NodeLister
	synced      []cache.InformerSynced
	threshold   int
	opts        Options
	log         *slog.Logger
	quarantined workqueue.TypedDelayingInterface[string]
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the collector with upstream's period and quarantine.
func New(ctx context.Context, c *controllers.Context) (controllers.Controller, error) {
	return NewWithOptions(ctx, c, DefaultOptions())
}

// NewWithOptions builds the collector with a tuned period and quarantine
// (tests shorten them).
func NewWithOptions(_ context.Context, c *controllers.Context, o Options) (*Controller, error) {
	d := DefaultOptions()
	if o.Period <= 0 {
		o.Period = d.Period
	}
	if o.Quarantine < 0 {
		o.Quarantine = d.Quarantine
	}
	if o.Parallelism <= 0 {
		o.Parallelism = d.Parallelism
	}
	pods := c.Informers.Core().V1().Pods()
	nodes := c.Informers.Core().V1().Nodes()
	return &Controller{
		client: c.Client, pods: pods.Lister(), nodes: nodes.Lister(),
		synced:    []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		threshold: c.Options.TerminatedPodGCThreshold,
		opts:      o,
		log:       slog.Default().With("controller", Name),
		quarantined: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{
			Name: Name + "-orphan-nodes"}),
	}, nil
}

// Run collects every period until ctx ends. workers is unused: deletes run
// with the options' parallelism.
func (c *Controller) Run(ctx context.Context, _ int) {
	defer utilruntime.HandleCrash()
	defer c.quarantined.ShutDown()
	if !cache.WaitForNamedCacheSync(Name, ctx.Done(), c.synced...) {
		return
	}
	c.log.Info("starting", "threshold", c.threshold, "period", c.opts.Period, "quarantine", c.opts.Quarantine)
	wait.UntilWithContext(ctx, c.gc, c.opts.Period)
}

// gc is one collection pass.
func (c *Controller) gc(ctx context.Context) {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		c.log.Error("list pods", "err", err)
		return
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		c.log.Error("list nodes", "err", err)
		return
	}
	if c.threshold > 0 {
		c.gcTerminated(ctx, pods)
	}
	c.gcTerminating(ctx, pods, nodes)
	c.gcOrphaned(ctx, pods, nodes)
	c.gcUnscheduledTerminating(ctx, pods)
}

func isTerminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// gcTerminated deletes the oldest terminated pods beyond the threshold
// (evicted ones first, as upstream orders them).
func (c *Controller) gcTerminated(ctx context.Context, pods []*corev1.Pod) {
	var terminated []*corev1.Pod
	for _, p := range pods {
		if isTerminated(p) {
			terminated = append(terminated, p)
		}
	}
	n := len(terminated) - c.threshold
	if n <= 0 {
		return
	}
	sort.Slice(terminated, func(i, j int) bool { return olderFirst(terminated[i], terminated[j]) })
	c.log.Info("garbage collecting terminated pods", "count", n, "threshold", c.threshold)
	c.deleteAll(ctx, terminated[:n], nil)
}

// olderFirst orders evicted pods first, then by creation time and name.
func olderFirst(a, b *corev1.Pod) bool {
	ea, eb := a.Status.Reason == "Evicted", b.Status.Reason == "Evicted"
	if ea != eb {
		return ea
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// gcTerminating force-deletes terminating pods on nodes that are not ready
// and carry the out-of-service taint (their kubelet will not finish them).
func (c *Controller) gcTerminating(ctx context.Context, pods []*corev1.Pod, nodes []*corev1.Node) {
	outOfService := sets.New[string]()
	for _, n := range nodes {
		if !nodeReady(n) && hasTaint(n, corev1.TaintNodeOutOfService) {
			outOfService.Insert(n.Name)
		}
	}
	if outOfService.Len() == 0 {
		return
	}
	var doomed []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil && !isTerminated(p) && outOfService.Has(p.Spec.NodeName) {
			doomed = append(doomed, p)
		}
	}
	if len(doomed) > 0 {
		c.log.Info("garbage collecting terminating pods on out-of-service nodes", "count", len(doomed))
		c.deleteAll(ctx, doomed, nil)
	}
}

// gcOrphaned deletes pods bound to nodes that have been missing for the
// quarantine period, after checking the API server (not the cache).
func (c *Controller) gcOrphaned(ctx context.Context, pods []*corev1.Pod, nodes []*corev1.Node) {
	existing := sets.New[string]()
	for _, n := range nodes {
		existing.Insert(n.Name)
	}
	for _, p := range pods {
		if p.Spec.NodeName != "" && !existing.Has(p.Spec.NodeName) {
			c.quarantined.AddAfter(p.Spec.NodeName, c.opts.Quarantine)
		}
	}
	deleted := c.discoverDeletedNodes(ctx, existing)
	if deleted.Len() == 0 {
		return
	}
	var orphans []*corev1.Pod
	for _, p := range pods {
		if deleted.Has(p.Spec.NodeName) {
			orphans = append(orphans, p)
		}
	}
	if len(orphans) == 0 {
		return
	}
	c.log.Info("garbage collecting pods of deleted nodes", "count", len(orphans), "nodes", sets.List(deleted))
	c.deleteAll(ctx, orphans, &corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "DeletionByPodGC", Message: "PodGC: node no longer exists",
	})
}

// discoverDeletedNodes drains the nodes whose quarantine ended and returns
// those the API server confirms are gone.
func (c *Controller) discoverDeletedNodes(ctx context.Context, existing sets.Set[string]) sets.Set[string] {
	deleted := sets.New[string]()
	for c.quarantined.Len() > 0 {
		name, quit := c.quarantined.Get()
		if quit {
			break
		}
		if !existing.Has(name) {
			_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				deleted.Insert(name)
			case err != nil:
				c.log.Info("check node existence", "node", name, "err", err)
			}
		}
		c.quarantined.Done(name)
	}
	return deleted
}

// gcUnscheduledTerminating force-deletes terminating pods that were never
// bound to a node: no kubelet will ever finish them.
func (c *Controller) gcUnscheduledTerminating(ctx context.Context, pods []*corev1.Pod) {
	var doomed []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil && p.Spec.NodeName == "" {
			doomed = append(doomed, p)
		}
	}
	if len(doomed) > 0 {
		c.log.Info("garbage collecting unscheduled terminating pods", "count", len(doomed))
		c.deleteAll(ctx, doomed, nil)
	}
}

// deleteAll marks each pod Failed (with cond) unless it already finished,
// then force-deletes it, with bounded parallelism.
func (c *Controller) deleteAll(ctx context.Context, pods []*corev1.Pod, cond *corev1.PodCondition) {
	workqueue.ParallelizeUntil(ctx, c.opts.Parallelism, len(pods), func(i int) {
		if err := c.markFailedAndDelete(ctx, pods[i], cond); err != nil {
			c.log.Info("delete pod", "pod", pods[i].Namespace+"/"+pods[i].Name, "err", err)
		}
	})
}

// markFailedAndDelete is upstream's markFailedAndDeletePodWithCondition.
func (c *Controller) markFailedAndDelete(ctx context.Context, pod *corev1.Pod, cond *corev1.PodCondition) error {
	if !isTerminated(pod) {
		status := map[string]any{"phase": corev1.PodFailed}
		if cond != nil {
			cc := *cond
			cc.LastTransitionTime = metav1.Now()
			status["conditions"] = []corev1.PodCondition{cc}
		}
		data, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": pod.UID}, "status": status})
		if err != nil {
			return err
		}
		if _, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status"); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("mark pod failed: %w", err)
		}
	}
	zero := int64(0)
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("force delete: %w", err)
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
