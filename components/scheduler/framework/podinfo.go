// Package framework holds the scheduler's view of pods and nodes (PodInfo,
// NodeInfo, precomputed once per object), the filters that decide whether
// a pod fits a node, the scores that rank the nodes that fit, and the
// upstream-worded reasons a pod fits nowhere.
package framework

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
)

// PodInfo is a pod with what scheduling needs precomputed: its resource
// requests, host ports, owner and parsed affinity terms. It is immutable
// once built and shared between the queue and the cache.
type PodInfo struct {
	Pod *corev1.Pod
	// Requests is what the pod needs on a node (init containers by the max
	// rule, sidecars and overhead added).
	Requests Resource
	// NonZeroCPU and NonZeroMemory count the defaults for containers that
	// request none; scores use them.
	NonZeroCPU, NonZeroMemory int64
	// Ports are the host ports the pod binds.
	Ports []HostPort
	// Owner is the UID of the pod's controller ownerReference, or "".
	Owner types.UID

	RequiredAffinity, RequiredAntiAffinity   []AffinityTerm
	PreferredAffinity, PreferredAntiAffinity []WeightedAffinityTerm

	// NodeSelector is spec.nodeSelector plus the required node affinity.
	NodeSelector *NodeSelector
	// PreferredNodeTerms are the weighted preferred node affinity terms.
	PreferredNodeTerms []PreferredNodeTerm
}

// HostPort is one host port a pod binds.
type HostPort struct {
	Protocol corev1.Protocol
	IP       string
	Port     int32
}

// AffinityTerm is a parsed pod (anti-)affinity term.
type AffinityTerm struct {
	// Namespaces are the namespaces named by the term (or the pod's own).
	Namespaces map[string]struct{}
	// NamespaceSelector selects further namespaces by label; nil selects
	// none.
	NamespaceSelector labels.Selector
	Selector          labels.Selector
	TopologyKey       string
}

// WeightedAffinityTerm is a preferred pod (anti-)affinity term.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int64
}

// Matches reports whether pod is selected by the term; nsLabels are the
// labels of pod's namespace (needed only with a namespace selector).
func (t *AffinityTerm) Matches(pod *corev1.Pod, nsLabels func(ns string) labels.Set) bool {
	if _, ok := t.Namespaces[pod.Namespace]; !ok {
		if t.NamespaceSelector == nil {
			return false
		}
		var l labels.Set
		if nsLabels != nil {
			l = nsLabels(pod.Namespace)
		}
		if !t.NamespaceSelector.Matches(l) {
			return false
		}
	}
	return t.Selector.Matches(labels.Set(pod.Labels))
}

// HasAffinity reports whether the pod has any pod (anti-)affinity term.
func (p *PodInfo) HasAffinity() bool {
	return len(p.RequiredAffinity)+len(p.RequiredAntiAffinity)+len(p.PreferredAffinity)+len(p.PreferredAntiAffinity) > 0
}

// NewPodInfo precomputes what scheduling needs from pod.
func NewPodInfo(pod *corev1.Pod) *PodInfo {
	req := computePodRequest(pod)
	pi := &PodInfo{
		Pod:           pod,
		Requests:      req.res,
		NonZeroCPU:    req.nzCPU,
		NonZeroMemory: req.nzMem,
		Ports:         hostPorts(pod),
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		pi.Owner = ref.UID
	}
	pi.NodeSelector = newNodeSelector(pod)
	if a := pod.Spec.Affinity; a != nil {
		if na := a.NodeAffinity; na != nil {
			for _, t := range na.PreferredDuringSchedulingIgnoredDuringExecution {
				if t.Weight != 0 {
					pi.PreferredNodeTerms = append(pi.PreferredNodeTerms, PreferredNodeTerm{nodeTerm: parseNodeTerm(&t.Preference), Weight: int64(t.Weight)})
				}
			}
		}
		if pa := a.PodAffinity; pa != nil {
			pi.RequiredAffinity = affinityTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution)
			pi.PreferredAffinity = weightedTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
		if pa := a.PodAntiAffinity; pa != nil {
			pi.RequiredAntiAffinity = affinityTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution)
			pi.PreferredAntiAffinity = weightedTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
	}
	return pi
}

func hostPorts(pod *corev1.Pod) []HostPort {
	var out []HostPort
	add := func(c *corev1.Container) {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			hp := HostPort{Protocol: p.Protocol, IP: p.HostIP, Port: p.HostPort}
			if hp.Protocol == "" {
				hp.Protocol = corev1.ProtocolTCP
			}
			if hp.IP == "" {
				hp.IP = "0.0.0.0"
			}
			out = append(out, hp)
		}
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	return out
}

func affinityTerms(pod *corev1.Pod, terms []corev1.PodAffinityTerm) []AffinityTerm {
	if len(terms) == 0 {
		return nil
	}
	out := make([]AffinityTerm, 0, len(terms))
	for i := range terms {
		out = append(out, newAffinityTerm(pod, &terms[i]))
	}
	return out
}

func weightedTerms(pod *corev1.Pod, terms []corev1.WeightedPodAffinityTerm) []WeightedAffinityTerm {
	var out []WeightedAffinityTerm
	for i := range terms {
		if terms[i].Weight == 0 {
			continue
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: newAffinityTerm(pod, &terms[i].PodAffinityTerm), Weight: int64(terms[i].Weight)})
	}
	return out
}

// newAffinityTerm parses a term as upstream does: no namespaces and no
// namespace selector mean the pod's own namespace; an empty namespace
// selector means every namespace; matchLabelKeys and mismatchLabelKeys
// add In and NotIn requirements on the pod's own label values. A selector
// that does not parse selects nothing.
func newAffinityTerm(pod *corev1.Pod, t *corev1.PodAffinityTerm) AffinityTerm {
	at := AffinityTerm{TopologyKey: t.TopologyKey, Namespaces: map[string]struct{}{}}
	for _, ns := range t.Namespaces {
		at.Namespaces[ns] = struct{}{}
	}
	if t.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector)
		if err != nil {
			sel = labels.Nothing()
		}
		at.NamespaceSelector = sel
	} else if len(t.Namespaces) == 0 {
		at.Namespaces[pod.Namespace] = struct{}{}
	}
	sel := labels.Nothing()
	if t.LabelSelector != nil {
		if s, err := metav1.LabelSelectorAsSelector(t.LabelSelector); err == nil {
			sel = s
			sel = addLabelKeys(sel, pod, t.MatchLabelKeys, selection.In)
			sel = addLabelKeys(sel, pod, t.MismatchLabelKeys, selection.NotIn)
		}
	}
	at.Selector = sel
	return at
}

func addLabelKeys(sel labels.Selector, pod *corev1.Pod, keys []string, op selection.Operator) labels.Selector {
	for _, k := range keys {
		v, ok := pod.Labels[k]
		if !ok {
			continue
		}
		r, err := labels.NewRequirement(k, op, []string{v})
		if err != nil {
			continue
		}
		sel = sel.Add(*r)
	}
	return sel
}
