// Package nodelifecycle is the node lifecycle controller: it judges node
// health from kubelet heartbeats (the node's Lease in kube-node-lease and
// its NodeStatus), marks a silent node's conditions Unknown after the
// grace period, keeps the condition taints (NoSchedule and the NoExecute
// not-ready/unreachable ones) in line with the conditions, marks the pods
// of a lost node not ready, and evicts pods that do not tolerate a node's
// NoExecute taints (upstream's taint-eviction controller).
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
)

// Name is the controller's name for --controllers and its events.
const Name = "nodelifecycle"

// podNodeIndex indexes pods by spec.nodeName.
const podNodeIndex = "nodelifecycle.nodeName"

// Controller watches node health and acts on lost nodes.
type Controller struct {
	client       kubernetes.Interface
	nodes        corelisters.NodeLister
	leases       coordlisters.LeaseLister
	pods         corelisters.PodLister
	podsByNode   cache.Indexer
	synced       []cache.InformerSynced
	nodeQueue    workqueue.TypedRateLimitingInterface[string]
	evictQueue   workqueue.TypedRateLimitingInterface[string]
	recorder     record.EventRecorder
	log          *slog.Logger
	now          func() time.Time
	grace        time.Duration
	startupGrace time.Duration
	period       time.Duration

	mu sync.Mutex
	// health is what was last seen of each node's heartbeats.
	health map[string]*nodeHealth
	// disrupted is set while every zone is fully disrupted (no Ready
	// node): then nothing is tainted NoExecute or evicted.
	disrupted bool
	// firstSeen is when a pod was first seen on a node with a NoExecute
	// taint lacking timeAdded.
	firstSeen map[string]time.Time
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller and registers its node, lease and pod informers.
func New(ctx context.Context, c *controllers.Context) (controllers.Controller, error) {
	grace, period := c.Options.NodeMonitorGracePeriod, c.Options.NodeMonitorPeriod
	if grace <= 0 {
		grace = 40 * time.Second
	}
	if period <= 0 {
		period = 5 * time.Second
	}
	nodes := c.Informers.Core().V1().Nodes()
	leases := c.Informers.Coordination().V1().Leases()
	pods := c.Informers.Core().V1().Pods()
	ctl := &Controller{
		client: c.Client, nodes: nodes.Lister(), leases: leases.Lister(), pods: pods.Lister(),
		podsByNode: pods.Informer().GetIndexer(),
		synced:     []cache.InformerSynced{nodes.Informer().HasSynced, leases.Informer().HasSynced, pods.Informer().HasSynced},
		nodeQueue:  controllers.NewQueue[string](Name),
		evictQueue: controllers.NewQueue[string](Name + "-taint-eviction"),
		recorder:   c.Recorder(Name + "-controller"),
		log:        slog.Default().With("controller", Name),
		now:        time.Now,
		grace:      grace,
		// Upstream's --node-startup-grace-period is 60s against a 40s
		// monitor grace period; keep the ratio when the grace is tuned.
		startupGrace: grace * 3 / 2,
		period:       period,
		health:       map[string]*nodeHealth{},
		firstSeen:    map[string]time.Time{},
	}
	if err := pods.Informer().AddIndexers(cache.Indexers{podNodeIndex: podNodeName}); err != nil {
		return nil, fmt.Errorf("%s: pod index: %w", Name, err)
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.nodeAdded,
		UpdateFunc: ctl.nodeUpdated,
		DeleteFunc: ctl.nodeDeleted,
	}); err != nil {
		return nil, fmt.Errorf("%s: node handler: %w", Name, err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.podChanged,
		UpdateFunc: func(_, cur any) { ctl.podChanged(cur) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				ctl.forgetFirstSeen(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("%s: pod handler: %w", Name, err)
	}
	return ctl, nil
}

func podNodeName(obj any) ([]string, error) {
	if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
		return []string{p.Spec.NodeName}, nil
	}
	return nil, nil
}

func (c *Controller) nodeAdded(obj any) {
	n := obj.(*corev1.Node)
	c.nodeQueue.Add(n.Name)
	if len(noExecuteTaints(n.Spec.Taints)) > 0 {
		c.enqueuePodsOf(n.Name)
	}
}

func (c *Controller) nodeUpdated(old, cur any) {
	o, n := old.(*corev1.Node), cur.(*corev1.Node)
	c.nodeQueue.Add(n.Name)
	if !sameTaints(noExecuteTaints(o.Spec.Taints), noExecuteTaints(n.Spec.Taints)) {
		c.enqueuePodsOf(n.Name)
	}
}

func (c *Controller) nodeDeleted(obj any) { controllers.Enqueue(c.nodeQueue, obj) }

// podChanged queues a pod for the taint-eviction check when its node has
// NoExecute taints, and its node when the node is not ready (so a pod
// bound to a lost node is marked not ready too).
func (c *Controller) podChanged(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
		return
	}
	n, err := c.nodes.Get(p.Spec.NodeName)
	if err != nil {
		return
	}
	if len(noExecuteTaints(n.Spec.Taints)) > 0 {
		c.evictQueue.Add(p.Namespace + "/" + p.Name)
	}
	if s := readyStatus(n); s != corev1.ConditionTrue && isPodReady(p) {
		c.nodeQueue.Add(n.Name)
	}
}

func (c *Controller) enqueuePodsOf(node string) {
	objs, _ := c.podsByNode.ByIndex(podNodeIndex, node)
	for _, o := range objs {
		p := o.(*corev1.Pod)
		c.evictQueue.Add(p.Namespace + "/" + p.Name)
	}
}

// Run watches node health until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer c.nodeQueue.ShutDown()
	defer c.evictQueue.ShutDown()
	if !cache.WaitForNamedCacheSync(Name, ctx.Done(), c.synced...) {
		return
	}
	c.log.Info("starting", "workers", workers, "gracePeriod", c.grace, "monitorPeriod", c.period)
	controllers.StartWorkers(ctx, max(workers, 1), c.nodeQueue, c.syncNode, c.log)
	controllers.StartWorkers(ctx, max(workers, 1), c.evictQueue, c.syncEviction, c.log)
	go wait.UntilWithContext(ctx, c.monitor, c.period)
	<-ctx.Done()
}
