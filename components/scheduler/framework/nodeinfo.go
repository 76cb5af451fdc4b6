package framework

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// NodeInfo is a node with the pods bound (or assumed bound) to it and what
// they add up to. The cache owns NodeInfos; the scheduler reads them under
// the cache's read lock.
type NodeInfo struct {
	// Name is the node's name; Node is nil while pods are known on a node
	// the cache has not seen (or that was deleted).
	Name string
	Node *corev1.Node

	Pods []*PodInfo
	// PodsWithAffinity have any pod (anti-)affinity term;
	// PodsWithRequiredAntiAffinity have a required anti-affinity term.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo

	// Requested is the sum of the pods' requests; NonZeroCPU and
	// NonZeroMemory count defaults for containers requesting none.
	Requested                 Resource
	NonZeroCPU, NonZeroMemory int64
	UsedPorts                 []HostPort

	// Allocatable and AllowedPods come from the node's status.
	Allocatable Resource
	AllowedPods int64
	// Taints are the node's taints plus node.kubernetes.io/not-ready or
	// unreachable (NoSchedule) implied by a Ready condition that is not
	// True, as the node lifecycle controller would add them.
	Taints []corev1.Taint
	// Unschedulable is spec.unschedulable (a cordoned node).
	Unschedulable bool

	owners map[types.UID]int32
}

// NewNodeInfo returns an empty NodeInfo for the named node.
func NewNodeInfo(name string) *NodeInfo {
	return &NodeInfo{Name: name}
}

// SetNode records node's scheduling properties.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.Node = node
	if node == nil {
		return
	}
	n.Allocatable = NewResource(node.Status.Allocatable)
	n.AllowedPods = node.Status.Allocatable.Pods().Value()
	n.Unschedulable = node.Spec.Unschedulable
	n.Taints = EffectiveTaints(node)
}

// EffectiveTaints returns node's taints plus the NoSchedule taint implied
// by its Ready condition: not-ready when False or missing, unreachable when
// Unknown.
func EffectiveTaints(node *corev1.Node) []corev1.Taint {
	key := ""
	switch readyStatus(node) {
	case corev1.ConditionTrue:
		return node.Spec.Taints
	case corev1.ConditionUnknown:
		key = corev1.TaintNodeUnreachable
	default:
		key = corev1.TaintNodeNotReady
	}
	for _, t := range node.Spec.Taints {
		if t.Key == key {
			return node.Spec.Taints
		}
	}
	return append(slices.Clip(node.Spec.Taints), corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
}

func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			return node.Status.Conditions[i].Status
		}
	}
	return ""
}

// AddPod accounts for pi on the node.
func (n *NodeInfo) AddPod(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if pi.HasAffinity() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinity) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.Requested.Add(&pi.Requests)
	n.NonZeroCPU += pi.NonZeroCPU
	n.NonZeroMemory += pi.NonZeroMemory
	n.UsedPorts = append(n.UsedPorts, pi.Ports...)
	if pi.Owner != "" {
		if n.owners == nil {
			n.owners = map[types.UID]int32{}
		}
		n.owners[pi.Owner]++
	}
}

// RemovePod removes the pod with uid from the node and returns it.
func (n *NodeInfo) RemovePod(uid types.UID) (*PodInfo, bool) {
	i := slices.IndexFunc(n.Pods, func(p *PodInfo) bool { return p.Pod.UID == uid })
	if i < 0 {
		return nil, false
	}
	pi := n.Pods[i]
	n.Pods = removeAt(n.Pods, i)
	if j := slices.Index(n.PodsWithAffinity, pi); j >= 0 {
		n.PodsWithAffinity = removeAt(n.PodsWithAffinity, j)
	}
	if j := slices.Index(n.PodsWithRequiredAntiAffinity, pi); j >= 0 {
		n.PodsWithRequiredAntiAffinity = removeAt(n.PodsWithRequiredAntiAffinity, j)
	}
	n.Requested.Sub(&pi.Requests)
	n.NonZeroCPU -= pi.NonZeroCPU
	n.NonZeroMemory -= pi.NonZeroMemory
	for _, p := range pi.Ports {
		if j := slices.Index(n.UsedPorts, p); j >= 0 {
			n.UsedPorts = removeAt(n.UsedPorts, j)
		}
	}
	if pi.Owner != "" {
		if n.owners[pi.Owner]--; n.owners[pi.Owner] <= 0 {
			delete(n.owners, pi.Owner)
		}
	}
	return pi, true
}

// OwnerCount is the number of the node's pods controlled by owner.
func (n *NodeInfo) OwnerCount(owner types.UID) int32 {
	return n.owners[owner]
}

// removeAt removes element i, not keeping order, and clears the freed slot.
func removeAt[T any](s []T, i int) []T {
	last := len(s) - 1
	s[i] = s[last]
	var zero T
	s[last] = zero
	return s[:last]
}
