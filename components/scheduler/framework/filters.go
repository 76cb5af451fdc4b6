package framework

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Cycle is the state of one scheduling attempt of one pod: the pod, what
// the pre-filter computed over all nodes, and scratch buffers for scoring.
// A Cycle is reused from pod to pod by one scheduling loop; Filter may be
// called concurrently for different nodes.
type Cycle struct {
	Pod *PodInfo
	// NamespaceLabels returns a namespace's labels (for affinity terms with
	// a namespace selector); nil means namespaces have no labels.
	NamespaceLabels func(ns string) labels.Set

	interPod *interPodState
	scratch  scoreScratch
}

// Reset starts a new attempt for pi.
func (c *Cycle) Reset(pi *PodInfo) {
	c.Pod = pi
	c.interPod = nil
}

// PreFilter computes the state the filters share over all nodes: the pod
// (anti-)affinity counts per topology domain. anyRequiredAntiAffinity says
// whether any pod in the cluster has a required anti-affinity term.
func (c *Cycle) PreFilter(nodes []*NodeInfo, anyRequiredAntiAffinity bool) {
	c.interPod = c.preFilterInterPod(nodes, anyRequiredAntiAffinity)
}

// Filter runs the filters in upstream's order and returns why the node
// does not fit the pod, or nil. It stops at the first failing filter.
func (c *Cycle) Filter(n *NodeInfo) *Status {
	pi := c.Pod
	if s := FilterUnschedulable(pi, n); s != nil {
		return s
	}
	if s := FilterTaints(pi, n); s != nil {
		return s
	}
	if s := FilterNodeSelector(pi, n); s != nil {
		return s
	}
	if s := FilterPorts(pi, n); s != nil {
		return s
	}
	if s := FilterResources(pi, n); s != nil {
		return s
	}
	return c.filterInterPod(n)
}

var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

// FilterUnschedulable rejects a cordoned node unless the pod tolerates the
// node.kubernetes.io/unschedulable:NoSchedule taint.
func FilterUnschedulable(pi *PodInfo, n *NodeInfo) *Status {
	if !n.Unschedulable || Tolerates(pi.Pod.Spec.Tolerations, &unschedulableTaint) {
		return nil
	}
	return statusUnschedulable
}

// FilterTaints rejects a node with a NoSchedule or NoExecute taint the pod
// does not tolerate (PreferNoSchedule only lowers the score).
func FilterTaints(pi *PodInfo, n *NodeInfo) *Status {
	for i := range n.Taints {
		t := &n.Taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !Tolerates(pi.Pod.Spec.Tolerations, t) {
			return Unfit(fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value))
		}
	}
	return nil
}

// Tolerates reports whether any of tolerations tolerates taint.
func Tolerates(tolerations []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tolerations {
		if toleratesTaint(&tolerations[i], taint) {
			return true
		}
	}
	return false
}

func toleratesTaint(t *corev1.Toleration, taint *corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case "", corev1.TolerationOpEqual:
		return t.Value == taint.Value
	case corev1.TolerationOpExists:
		return true
	}
	return false
}

// FilterNodeSelector rejects a node that does not match the pod's
// nodeSelector and required node affinity.
func FilterNodeSelector(pi *PodInfo, n *NodeInfo) *Status {
	if pi.NodeSelector.Matches(n.Node) {
		return nil
	}
	return statusNodeSelector
}

// FilterPorts rejects a node where a host port the pod wants is taken: the
// same protocol and port on the same IP, or on 0.0.0.0 on either side.
func FilterPorts(pi *PodInfo, n *NodeInfo) *Status {
	for _, want := range pi.Ports {
		for _, used := range n.UsedPorts {
			if want.Port == used.Port && want.Protocol == used.Protocol &&
				(want.IP == used.IP || want.IP == "0.0.0.0" || used.IP == "0.0.0.0") {
				return statusPorts
			}
		}
	}
	return nil
}

// FilterResources rejects a node whose allocatable, less what its pods
// request, cannot hold the pod's requests; it reports every resource that
// is short, in upstream's order (pods, cpu, memory, ephemeral-storage,
// extended resources).
func FilterResources(pi *PodInfo, n *NodeInfo) *Status {
	var reasons []string
	if int64(len(n.Pods))+1 > n.AllowedPods {
		reasons = append(reasons, ReasonTooManyPods)
	}
	r, alloc, used := &pi.Requests, &n.Allocatable, &n.Requested
	cpu := r.MilliCPU > 0 && r.MilliCPU > alloc.MilliCPU-used.MilliCPU
	mem := r.Memory > 0 && r.Memory > alloc.Memory-used.Memory
	switch {
	case reasons == nil && cpu && !mem && r.EphemeralStorage == 0 && r.Scalar == nil:
		return statusInsufficientCPU
	case reasons == nil && mem && !cpu && r.EphemeralStorage == 0 && r.Scalar == nil:
		return statusInsufficientMemory
	}
	if cpu {
		reasons = append(reasons, insufficient(string(corev1.ResourceCPU)))
	}
	if mem {
		reasons = append(reasons, insufficient(string(corev1.ResourceMemory)))
	}
	if r.EphemeralStorage > 0 && r.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage {
		reasons = append(reasons, insufficient(string(corev1.ResourceEphemeralStorage)))
	}
	if r.Scalar != nil {
		var scalar []string
		for name, v := range r.Scalar {
			if v > 0 && v > alloc.Scalar[name]-used.Scalar[name] {
				scalar = append(scalar, insufficient(string(name)))
			}
		}
		slices.Sort(scalar)
		reasons = append(reasons, scalar...)
	}
	if reasons == nil {
		return nil
	}
	if len(reasons) == 1 && reasons[0] == ReasonTooManyPods {
		return statusTooManyPods
	}
	return Unfit(reasons...)
}
