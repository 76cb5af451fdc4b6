// Package cache is the scheduler's view of the cluster: every node with the
// pods bound to it, including pods the scheduler has assumed onto a node
// while their binding is in flight, so that the next pods already count
// them before the informers report the binding.
package cache

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelab/kubelab/components/scheduler/framework"
)

// Cache holds NodeInfos. Writers (informer handlers, the scheduler's
// assume and forget) take the write lock; a scheduling cycle reads under
// Read.
type Cache struct {
	mu    sync.RWMutex
	ttl   time.Duration
	now   func() time.Time
	nodes map[string]*framework.NodeInfo
	// list holds the NodeInfos that have a Node, in a stable order the
	// scheduler walks round-robin; index is each one's position.
	list  []*framework.NodeInfo
	index map[string]int
	pods  map[types.UID]*podState

	affinityPods, antiAffinityPods int
}

type podState struct {
	info    *framework.PodInfo
	node    string
	assumed bool
	// deadline is when an assumed pod whose binding finished is dropped if
	// the informer has still not reported it; zero while binding.
	deadline time.Time
}

// New returns an empty cache; assumed pods whose binding succeeded expire
// ttl after it if no informer event confirms them.
func New(ttl time.Duration) *Cache {
	return &Cache{
		ttl:   ttl,
		now:   time.Now,
		nodes: map[string]*framework.NodeInfo{},
		index: map[string]int{},
		pods:  map[types.UID]*podState{},
	}
}

// Snapshot is what a scheduling cycle reads: the nodes and whether any pod
// has (anti-)affinity terms. It is valid only inside Read's callback.
type Snapshot struct {
	Nodes                   []*framework.NodeInfo
	AnyAffinity             bool
	AnyRequiredAntiAffinity bool
}

// Read calls fn with the cache read-locked.
func (c *Cache) Read(fn func(Snapshot)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	fn(Snapshot{Nodes: c.list, AnyAffinity: c.affinityPods > 0, AnyRequiredAntiAffinity: c.antiAffinityPods > 0})
}

// Run expires assumed pods until ctx ends.
func (c *Cache) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.CleanupExpired()
		}
	}
}

// SetNode adds or updates a node.
func (c *Cache) SetNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := c.nodes[node.Name]
	if ni == nil {
		ni = framework.NewNodeInfo(node.Name)
		c.nodes[node.Name] = ni
	}
	if ni.Node == nil {
		c.index[node.Name] = len(c.list)
		c.list = append(c.list, ni)
	}
	ni.SetNode(node)
}

// RemoveNode removes a node; pods still bound to it stay accounted to a
// NodeInfo without a Node until they go.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := c.nodes[name]
	if ni == nil {
		return
	}
	if i, ok := c.index[name]; ok {
		last := len(c.list) - 1
		c.list[i] = c.list[last]
		c.index[c.list[i].Name] = i
		c.list[last] = nil
		c.list = c.list[:last]
		delete(c.index, name)
	}
	ni.SetNode(nil)
	if len(ni.Pods) == 0 {
		delete(c.nodes, name)
	}
}

// AddPod records, or updates, a pod the informer reports bound; it
// confirms the pod if it was assumed (on whatever node it really landed).
func (c *Cache) AddPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(pod.UID)
	c.addLocked(framework.NewPodInfo(pod), false)
}

// RemovePod forgets a bound pod that was deleted or finished.
func (c *Cache) RemovePod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(uid)
}

// AssumePod accounts pi, whose pod has spec.nodeName set, to its node
// before the binding is confirmed.
func (c *Cache) AssumePod(pi *framework.PodInfo) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[pi.Pod.UID]; ok {
		return fmt.Errorf("pod %s/%s is already in the cache", pi.Pod.Namespace, pi.Pod.Name)
	}
	c.addLocked(pi, true)
	return nil
}

// FinishBinding starts the expiry clock of an assumed pod whose binding
// succeeded.
func (c *Cache) FinishBinding(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[uid]; ok && ps.assumed {
		ps.deadline = c.now().Add(c.ttl)
	}
}

// ForgetPod drops an assumed pod whose binding failed.
func (c *Cache) ForgetPod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[uid]; ok && ps.assumed {
		c.removeLocked(uid)
	}
}

// IsAssumed reports whether the pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(uid types.UID) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ps, ok := c.pods[uid]
	return ok && ps.assumed
}

// CleanupExpired drops assumed pods past their deadline.
func (c *Cache) CleanupExpired() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for uid, ps := range c.pods {
		if ps.assumed && !ps.deadline.IsZero() && now.After(ps.deadline) {
			slog.Warn("assumed pod expired without a bound event", "pod", ps.info.Pod.Namespace+"/"+ps.info.Pod.Name, "node", ps.node)
			c.removeLocked(uid)
		}
	}
}

// Counts returns the number of nodes and of pods (assumed included).
func (c *Cache) Counts() (nodes, pods int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.list), len(c.pods)
}

func (c *Cache) addLocked(pi *framework.PodInfo, assumed bool) {
	name := pi.Pod.Spec.NodeName
	ni := c.nodes[name]
	if ni == nil {
		ni = framework.NewNodeInfo(name)
		c.nodes[name] = ni
	}
	ni.AddPod(pi)
	c.pods[pi.Pod.UID] = &podState{info: pi, node: name, assumed: assumed}
	if pi.HasAffinity() {
		c.affinityPods++
	}
	if len(pi.RequiredAntiAffinity) > 0 {
		c.antiAffinityPods++
	}
}

func (c *Cache) removeLocked(uid types.UID) {
	ps, ok := c.pods[uid]
	if !ok {
		return
	}
	delete(c.pods, uid)
	if ps.info.HasAffinity() {
		c.affinityPods--
	}
	if len(ps.info.RequiredAntiAffinity) > 0 {
		c.antiAffinityPods--
	}
	ni := c.nodes[ps.node]
	if ni == nil {
		return
	}
	ni.RemovePod(uid)
	if ni.Node == nil && len(ni.Pods) == 0 {
		delete(c.nodes, ps.node)
	}
}
