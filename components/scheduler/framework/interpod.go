package framework

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// topologyPair is one topology domain: a node label key and value.
type topologyPair struct{ key, value string }

// interPodState is the pre-filter's count of pods per topology domain.
type interPodState struct {
	// existingAnti counts, per domain, existing pods whose required
	// anti-affinity terms select the incoming pod.
	existingAnti map[topologyPair]int
	// affinity and antiAffinity count, per domain, existing pods selected
	// by the incoming pod's required affinity and anti-affinity terms.
	affinity, antiAffinity map[topologyPair]int
	// selfMatch: the pod matches all its own affinity terms, so the first
	// pod of a group may go anywhere when no pod matches yet.
	selfMatch bool
}

// nsLabelsOf returns the labels of the pod's namespace through the cycle's
// lookup.
func (c *Cycle) nsLabelsOf(ns string) labels.Set {
	if c.NamespaceLabels == nil {
		return nil
	}
	return c.NamespaceLabels(ns)
}

// preFilterInterPod counts, as upstream's InterPodAffinity PreFilter does,
// the pods per topology domain that the filter needs. It returns nil when
// neither the pod nor any existing pod has required terms.
func (c *Cycle) preFilterInterPod(nodes []*NodeInfo, anyRequiredAnti bool) *interPodState {
	pi := c.Pod
	own := len(pi.RequiredAffinity) > 0 || len(pi.RequiredAntiAffinity) > 0
	if !own && !anyRequiredAnti {
		return nil
	}
	st := &interPodState{existingAnti: map[topologyPair]int{}, affinity: map[topologyPair]int{}, antiAffinity: map[topologyPair]int{}}
	var podNSLabels labels.Set
	podNSLoaded := false
	nsOfPod := func(string) labels.Set {
		if !podNSLoaded {
			podNSLabels, podNSLoaded = c.nsLabelsOf(pi.Pod.Namespace), true
		}
		return podNSLabels
	}
	for _, n := range nodes {
		if n.Node == nil {
			continue
		}
		nodeLabels := n.Node.Labels
		for _, ep := range n.PodsWithRequiredAntiAffinity {
			for i := range ep.RequiredAntiAffinity {
				t := &ep.RequiredAntiAffinity[i]
				if v, ok := nodeLabels[t.TopologyKey]; ok && t.Matches(pi.Pod, nsOfPod) {
					st.existingAnti[topologyPair{t.TopologyKey, v}]++
				}
			}
		}
		if !own {
			continue
		}
		for _, ep := range n.Pods {
			for i := range pi.RequiredAffinity {
				t := &pi.RequiredAffinity[i]
				if v, ok := nodeLabels[t.TopologyKey]; ok && t.Matches(ep.Pod, c.nsLabelsOf) {
					st.affinity[topologyPair{t.TopologyKey, v}]++
				}
			}
			for i := range pi.RequiredAntiAffinity {
				t := &pi.RequiredAntiAffinity[i]
				if v, ok := nodeLabels[t.TopologyKey]; ok && t.Matches(ep.Pod, c.nsLabelsOf) {
					st.antiAffinity[topologyPair{t.TopologyKey, v}]++
				}
			}
		}
	}
	st.selfMatch = len(pi.RequiredAffinity) > 0
	for i := range pi.RequiredAffinity {
		if !pi.RequiredAffinity[i].Matches(pi.Pod, c.nsLabelsOf) {
			st.selfMatch = false
		}
	}
	return st
}

// filterInterPod checks required pod affinity, the pod's required
// anti-affinity and existing pods' required anti-affinity, in that order.
func (c *Cycle) filterInterPod(n *NodeInfo) *Status {
	st := c.interPod
	if st == nil {
		return nil
	}
	pi, node := c.Pod, n.Node
	if len(pi.RequiredAffinity) > 0 && !satisfiesAffinity(pi.RequiredAffinity, st, node) {
		// The first pod of a group that matches its own terms may go
		// anywhere while no pod matches them yet.
		if !(len(st.affinity) == 0 && st.selfMatch) {
			return statusAffinityNotMatch
		}
	}
	for i := range pi.RequiredAntiAffinity {
		t := &pi.RequiredAntiAffinity[i]
		if v, ok := node.Labels[t.TopologyKey]; ok && st.antiAffinity[topologyPair{t.TopologyKey, v}] > 0 {
			return statusAntiAffinityNotMatch
		}
	}
	if len(st.existingAnti) > 0 {
		for k, v := range node.Labels {
			if st.existingAnti[topologyPair{k, v}] > 0 {
				return statusExistingAntiAffinity
			}
		}
	}
	return nil
}

func satisfiesAffinity(terms []AffinityTerm, st *interPodState, node *corev1.Node) bool {
	for i := range terms {
		v, ok := node.Labels[terms[i].TopologyKey]
		if !ok || st.affinity[topologyPair{terms[i].TopologyKey, v}] <= 0 {
			return false
		}
	}
	return true
}
