// Package nodeipam is the node IPAM controller (upstream's range
// allocator): it gives every node a podCIDR carved from the cluster CIDR
// (one per family when it is dual-stack), persisted in
// node.spec.podCIDR(s), and frees it when the node is deleted.
package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
)

// Name is the controller's name for --controllers and its events.
const Name = "nodeipam"

// defaultIPv6MaskSize is upstream's --node-cidr-mask-size-ipv6.
const defaultIPv6MaskSize = 64

// Controller assigns podCIDRs to nodes.
type Controller struct {
	client      kubernetes.Interface
	nodes       corelisters.NodeLister
	nodesSynced cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	recorder    record.EventRecorder
	log         *slog.Logger

	mu   sync.Mutex
	sets []*cidrSet
	// owned is what each node holds in sets, by node name.
	owned map[string]ownedCIDRs
}

// ownedCIDRs are the subnets marked used for one node.
type ownedCIDRs struct {
	uid   types.UID
	cidrs []netip.Prefix
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller from the cluster CIDR (comma-separated for
// dual-stack) and node mask size of c.Options.
func New(ctx context.Context, c *controllers.Context) (controllers.Controller, error) {
	sets, err := parseClusterCIDRs(c.Options.ClusterCIDR, c.Options.NodeCIDRMaskSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	nodes := c.Informers.Core().V1().Nodes()
	ctl := &Controller{
		client: c.Client, nodes: nodes.Lister(), nodesSynced: nodes.Informer().HasSynced,
		queue:    controllers.NewQueue[string](Name),
		recorder: c.Recorder(Name + "-controller"),
		log:      slog.Default().With("controller", Name),
		sets:     sets,
		owned:    map[string]ownedCIDRs{},
	}
	_, err = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: ctl.enqueue,
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			if n.Spec.PodCIDR == "" || !slices.Equal(o.Spec.PodCIDRs, n.Spec.PodCIDRs) || o.UID != n.UID {
				ctl.enqueue(cur)
			}
		},
		DeleteFunc: ctl.enqueue,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: node handler: %w", Name, err)
	}
	return ctl, nil
}

// parseClusterCIDRs makes one subnet set per cluster CIDR: IPv4 ranges use
// maskSize, IPv6 ones 64 unless maskSize fits them.
func parseClusterCIDRs(spec string, maskSize int) ([]*cidrSet, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("no cluster CIDR (--cluster-cidr) to allocate node podCIDRs from")
	}
	var sets []*cidrSet
	for _, part := range strings.Split(spec, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("cluster CIDR %q: %w", part, err)
		}
		size := maskSize
		if p.Addr().Is6() && (size <= p.Bits() || size <= 32) {
			size = defaultIPv6MaskSize
		}
		s, err := newCIDRSet(p, size)
		if err != nil {
			return nil, err
		}
		for _, other := range sets {
			if other.cluster.Addr().Is4() == p.Addr().Is4() {
				return nil, fmt.Errorf("cluster CIDR %q: at most one range per IP family", spec)
			}
		}
		sets = append(sets, s)
	}
	return sets, nil
}

func (c *Controller) enqueue(obj any) { controllers.Enqueue(c.queue, obj) }

// Run rebuilds the allocation map from the existing nodes, then assigns
// podCIDRs until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	if !cache.WaitForNamedCacheSync(Name, ctx.Done(), c.nodesSynced) {
		return
	}
	if err := c.rebuild(); err != nil {
		c.log.Error("rebuild CIDR allocations", "err", err)
	}
	c.log.Info("starting", "workers", workers)
	controllers.StartWorkers(ctx, max(workers, 1), c.queue, c.sync, c.log)
	<-ctx.Done()
}

// rebuild marks every podCIDR nodes already hold as used, before any
// allocation, so a restarted controller never hands one out twice.
func (c *Controller) rebuild() error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range nodes {
		c.recordLocked(n)
	}
	return nil
}

// sync gives the node a podCIDR if it has none, records one it has, and
// frees what a deleted node held.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		c.releaseLocked(name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	if o, ok := c.owned[name]; ok && o.uid != node.UID {
		c.releaseLocked(name) // a new node of the same name
	}
	if nodeCIDRs(node) != nil {
		c.recordLocked(node)
		c.mu.Unlock()
		return nil
	}
	o, ok := c.owned[name]
	if !ok {
		if o, err = c.allocateLocked(node); err != nil {
			c.mu.Unlock()
			c.recorder.Eventf(node, corev1.EventTypeNormal, "CIDRNotAvailable", "Node %s status is now: CIDRNotAvailable", name)
			return fmt.Errorf("allocate podCIDR for node %s: %w", name, err)
		}
		c.owned[name] = o
	}
	c.mu.Unlock()
	return c.patch(ctx, node, o.cidrs)
}

// patch persists cidrs in the node's spec.
func (c *Controller) patch(ctx context.Context, node *corev1.Node, cidrs []netip.Prefix) error {
	strs := make([]string, len(cidrs))
	for i, p := range cidrs {
		strs[i] = p.String()
	}
	data, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": node.UID},
		"spec":     map[string]any{"podCIDR": strs[0], "podCIDRs": strs},
	})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Nodes().Patch(ctx, node.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil // deleted meanwhile: its delete event frees the CIDR
	case err != nil:
		c.recorder.Eventf(node, corev1.EventTypeWarning, "CIDRAssignmentFailed", "Node %s status is now: CIDRAssignmentFailed", node.Name)
		return fmt.Errorf("patch podCIDR of node %s: %w", node.Name, err)
	}
	c.log.Info("assigned podCIDR", "node", node.Name, "podCIDRs", strs)
	return nil
}

// nodeCIDRs parses the node's podCIDRs (nil when it has none).
func nodeCIDRs(n *corev1.Node) []netip.Prefix {
	specs := n.Spec.PodCIDRs
	if len(specs) == 0 && n.Spec.PodCIDR != "" {
		specs = []string{n.Spec.PodCIDR}
	}
	var out []netip.Prefix
	for _, s := range specs {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// recordLocked marks the node's existing podCIDRs used, replacing what it
// held before (a CIDR someone else assigned).
func (c *Controller) recordLocked(n *corev1.Node) {
	cidrs := nodeCIDRs(n)
	if cidrs == nil {
		return
	}
	if o, ok := c.owned[n.Name]; ok {
		if o.uid == n.UID && slices.Equal(o.cidrs, cidrs) {
			return
		}
		c.releaseLocked(n.Name)
	}
	for _, p := range cidrs {
		if s := c.setFor(p); s != nil {
			if err := s.occupy(p); err != nil {
				c.log.Info("node podCIDR not occupied", "node", n.Name, "podCIDR", p, "err", err)
			}
		} else {
			c.log.Info("node podCIDR is outside the cluster CIDR", "node", n.Name, "podCIDR", p)
		}
	}
	c.owned[n.Name] = ownedCIDRs{uid: n.UID, cidrs: cidrs}
}

// allocateLocked takes one subnet per cluster CIDR for the node.
func (c *Controller) allocateLocked(n *corev1.Node) (ownedCIDRs, error) {
	o := ownedCIDRs{uid: n.UID}
	for _, s := range c.sets {
		p, err := s.allocate()
		if err != nil {
			for _, q := range o.cidrs {
				_ = c.setFor(q).release(q)
			}
			return ownedCIDRs{}, err
		}
		o.cidrs = append(o.cidrs, p)
	}
	return o, nil
}

// releaseLocked frees what the named node held.
func (c *Controller) releaseLocked(name string) {
	o, ok := c.owned[name]
	if !ok {
		return
	}
	delete(c.owned, name)
	for _, p := range o.cidrs {
		if s := c.setFor(p); s != nil {
			_ = s.release(p)
		}
	}
	c.log.Info("released podCIDR", "node", name, "podCIDRs", o.cidrs)
}

// setFor is the set p belongs to, or nil.
func (c *Controller) setFor(p netip.Prefix) *cidrSet {
	for _, s := range c.sets {
		if s.contains(p) {
			return s
		}
	}
	return nil
}
