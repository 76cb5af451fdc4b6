package nodelifecycle

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// nodeHealth is what the controller last saw of a node's heartbeats.
type nodeHealth struct {
	// probe is when a heartbeat (a new status heartbeat or lease
	// renewal) was last observed, on the controller's clock.
	probe time.Time
	// heartbeat is the Ready condition's lastHeartbeatTime seen then.
	heartbeat metav1.Time
	// renew is the lease renewTime seen then.
	renew time.Time
	// ready is the Ready status the controller last acted on.
	ready corev1.ConditionStatus
}

// conditionsKubeletPosts are the node conditions that go Unknown together
// when the kubelet falls silent.
var conditionsKubeletPosts = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// monitor is the periodic health pass: it recomputes whether the cluster
// is fully disrupted and queues every node for a health check.
func (c *Controller) monitor(ctx context.Context) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		c.log.Error("list nodes", "err", err)
		return
	}
	disrupted := fullyDisrupted(nodes)
	c.mu.Lock()
	was := c.disrupted
	c.disrupted = disrupted
	if was && !disrupted {
		// Leaving disruption mode: every node gets a fresh grace period,
		// as upstream does, before it can be judged lost again.
		now := c.now()
		for _, h := range c.health {
			h.probe = now
		}
	}
	c.mu.Unlock()
	switch {
	case disrupted && !was:
		c.log.Warn("all nodes are not ready: entering disruption mode, NoExecute taints and evictions stop")
	case was && !disrupted:
		c.log.Info("some nodes are ready again: leaving disruption mode")
	}
	for _, n := range nodes {
		c.nodeQueue.Add(n.Name)
	}
}

// fullyDisrupted reports whether every zone has nodes and none is Ready
// (upstream's FullDisruption in all zones).
func fullyDisrupted(nodes []*corev1.Node) bool {
	if len(nodes) == 0 {
		return false
	}
	readyInZone := map[string]bool{}
	for _, n := range nodes {
		z := zoneOf(n)
		readyInZone[z] = readyInZone[z] || readyStatus(n) == corev1.ConditionTrue
	}
	for _, ready := range readyInZone {
		if ready {
			return false
		}
	}
	return true
}

func zoneOf(n *corev1.Node) string {
	return n.Labels[corev1.LabelTopologyRegion] + ":\x00:" + n.Labels[corev1.LabelTopologyZone]
}

// syncNode checks one node's health and brings its conditions, taints and
// pods' readiness in line.
func (c *Controller) syncNode(ctx context.Context, name string) error {
	cached, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.health, name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	node := cached.DeepCopy()
	if c.observe(node) {
		if node, err = c.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("mark node %s unknown: %w", name, err)
		}
		c.log.Info("node stopped posting status", "node", name, "gracePeriod", c.grace)
	}
	ready := readyStatus(node)
	c.mu.Lock()
	h := c.health[name]
	prev := h.ready
	h.ready = ready
	disrupted := c.disrupted
	c.mu.Unlock()
	if prev == corev1.ConditionTrue && ready != corev1.ConditionTrue {
		c.recorder.Eventf(node, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", name)
	}
	if err := c.reconcileTaints(ctx, node, disrupted); err != nil {
		return err
	}
	if ready != corev1.ConditionTrue {
		return c.markPodsNotReady(ctx, node)
	}
	return nil
}

// observe updates the node's health record from its status and lease and,
// when no heartbeat came within the grace period, sets the conditions the
// kubelet posts to Unknown in node. It reports whether node changed.
func (c *Controller) observe(node *corev1.Node) bool {
	now := c.now()
	cond := nodeCondition(node, corev1.NodeReady)
	var renew time.Time
	if l, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(node.Name); err == nil && l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.Time
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.health[node.Name]
	if h == nil {
		h = &nodeHealth{probe: now, renew: renew, ready: corev1.ConditionUnknown}
		if cond == nil {
			h.probe = node.CreationTimestamp.Time
		} else {
			h.heartbeat, h.ready = cond.LastHeartbeatTime, cond.Status
		}
		c.health[node.Name] = h
	}
	if cond != nil && !cond.LastHeartbeatTime.Equal(&h.heartbeat) {
		h.heartbeat, h.probe = cond.LastHeartbeatTime, now
	}
	if renew.After(h.renew) {
		h.renew, h.probe = renew, now
	}
	grace := c.grace
	if cond == nil {
		grace = c.startupGrace
	}
	if !now.After(h.probe.Add(grace)) {
		return false
	}
	return markUnknown(node, metav1.NewTime(now))
}

// markUnknown sets the kubelet's conditions Unknown as upstream does,
// adding those it never posted; it reports whether anything changed.
func markUnknown(node *corev1.Node, now metav1.Time) bool {
	changed := false
	for _, t := range conditionsKubeletPosts {
		c := nodeCondition(node, t)
		if c == nil {
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown,
				Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.",
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: now,
			})
			changed = true
			continue
		}
		if c.Status != corev1.ConditionUnknown {
			c.Status = corev1.ConditionUnknown
			c.Reason, c.Message = "NodeStatusUnknown", "Kubelet stopped posting node status."
			c.LastTransitionTime = now
			changed = true
		}
	}
	return changed
}

func nodeCondition(n *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// readyStatus is the node's Ready status (Unknown when it has none).
func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	if c := nodeCondition(n, corev1.NodeReady); c != nil {
		return c.Status
	}
	return corev1.ConditionUnknown
}
