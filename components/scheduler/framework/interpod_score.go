package framework

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// preScoreInterPod sums, per topology domain, the weights of preferred
// (anti-)affinity between the pod and existing pods, as upstream's
// InterPodAffinity PreScore does: the pod's preferred terms selecting
// existing pods, and existing pods' required affinity (weight 1) and
// preferred terms selecting the pod. It reports whether any domain scored.
func (c *Cycle) preScoreInterPod(all []*NodeInfo, anyAffinity bool) bool {
	pi, s := c.Pod, &c.scratch
	hasPreferred := len(pi.PreferredAffinity)+len(pi.PreferredAntiAffinity) > 0
	if !hasPreferred && !anyAffinity {
		return false
	}
	if s.topology == nil {
		s.topology = map[string]map[string]int64{}
	}
	clear(s.topology)
	var podNS labels.Set
	loaded := false
	podNSLabels := func(string) labels.Set {
		if !loaded {
			podNS, loaded = c.nsLabelsOf(pi.Pod.Namespace), true
		}
		return podNS
	}
	for _, n := range all {
		if n.Node == nil {
			continue
		}
		pods := n.PodsWithAffinity
		if hasPreferred {
			pods = n.Pods
		}
		for _, ep := range pods {
			c.scoreExisting(ep, n.Node, podNSLabels)
		}
	}
	return len(s.topology) > 0
}

func (c *Cycle) addTopology(node *corev1.Node, key string, w int64) {
	v, ok := node.Labels[key]
	if !ok || w == 0 {
		return
	}
	m := c.scratch.topology[key]
	if m == nil {
		m = map[string]int64{}
		c.scratch.topology[key] = m
	}
	m[v] += w
}

func (c *Cycle) scoreExisting(ep *PodInfo, node *corev1.Node, podNSLabels func(string) labels.Set) {
	pi := c.Pod
	for i := range pi.PreferredAffinity {
		if t := &pi.PreferredAffinity[i]; t.Matches(ep.Pod, c.nsLabelsOf) {
			c.addTopology(node, t.TopologyKey, t.Weight)
		}
	}
	for i := range pi.PreferredAntiAffinity {
		if t := &pi.PreferredAntiAffinity[i]; t.Matches(ep.Pod, c.nsLabelsOf) {
			c.addTopology(node, t.TopologyKey, -t.Weight)
		}
	}
	if !ep.HasAffinity() {
		return
	}
	for i := range ep.RequiredAffinity {
		if t := &ep.RequiredAffinity[i]; t.Matches(pi.Pod, podNSLabels) {
			c.addTopology(node, t.TopologyKey, hardPodAffinityWeight)
		}
	}
	for i := range ep.PreferredAffinity {
		if t := &ep.PreferredAffinity[i]; t.Matches(pi.Pod, podNSLabels) {
			c.addTopology(node, t.TopologyKey, t.Weight)
		}
	}
	for i := range ep.PreferredAntiAffinity {
		if t := &ep.PreferredAntiAffinity[i]; t.Matches(pi.Pod, podNSLabels) {
			c.addTopology(node, t.TopologyKey, -t.Weight)
		}
	}
}

// interPodScore sums the scores of the domains the node belongs to.
func (c *Cycle) interPodScore(n *NodeInfo) int64 {
	var score int64
	for key, values := range c.scratch.topology {
		if v, ok := n.Node.Labels[key]; ok {
			score += values[v]
		}
	}
	return score
}
