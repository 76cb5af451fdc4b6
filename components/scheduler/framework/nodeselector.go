package framework

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// NodeSelector is a pod's spec.nodeSelector together with its required node
// affinity: a node must match the nodeSelector and at least one term.
type NodeSelector struct {
	labels labels.Selector // spec.nodeSelector; nil when empty
	terms  []nodeTerm      // required terms, ORed; nil when none given
	// hasTerms distinguishes "no required affinity" from "terms given but
	// none valid" (which matches no node).
	hasTerms bool
}

// nodeTerm is one parsed node selector term: its matchExpressions and
// matchFields are ANDed. An empty or invalid term matches no node.
type nodeTerm struct {
	labels labels.Selector
	fields []fieldRequirement
	valid  bool
}

// fieldRequirement is a matchFields entry; metadata.name is the only field.
type fieldRequirement struct {
	in     bool
	values map[string]struct{}
}

// PreferredNodeTerm is a weighted preferred node affinity term.
type PreferredNodeTerm struct {
	nodeTerm
	Weight int64
}

func newNodeSelector(pod *corev1.Pod) *NodeSelector {
	var ns NodeSelector
	if len(pod.Spec.NodeSelector) > 0 {
		ns.labels = labels.SelectorFromValidatedSet(labels.Set(pod.Spec.NodeSelector))
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		ns.hasTerms = true
		for i := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			t := parseNodeTerm(&a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[i])
			if t.valid {
				ns.terms = append(ns.terms, t)
			}
		}
	}
	if ns.labels == nil && !ns.hasTerms {
		return nil
	}
	return &ns
}

var nodeOps = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn:           selection.In,
	corev1.NodeSelectorOpNotIn:        selection.NotIn,
	corev1.NodeSelectorOpExists:       selection.Exists,
	corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt:           selection.GreaterThan,
	corev1.NodeSelectorOpLt:           selection.LessThan,
}

func parseNodeTerm(t *corev1.NodeSelectorTerm) nodeTerm {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return nodeTerm{}
	}
	out := nodeTerm{valid: true}
	if len(t.MatchExpressions) > 0 {
		reqs := make([]labels.Requirement, 0, len(t.MatchExpressions))
		for _, e := range t.MatchExpressions {
			op, ok := nodeOps[e.Operator]
			if !ok {
				return nodeTerm{}
			}
			r, err := labels.NewRequirement(e.Key, op, e.Values)
			if err != nil {
				return nodeTerm{}
			}
			reqs = append(reqs, *r)
		}
		out.labels = labels.NewSelector().Add(reqs...)
	}
	for _, f := range t.MatchFields {
		if f.Key != "metadata.name" {
			return nodeTerm{}
		}
		var fr fieldRequirement
		switch f.Operator {
		case corev1.NodeSelectorOpIn:
			fr.in = true
		case corev1.NodeSelectorOpNotIn:
		default:
			return nodeTerm{}
		}
		fr.values = make(map[string]struct{}, len(f.Values))
		for _, v := range f.Values {
			fr.values[v] = struct{}{}
		}
		out.fields = append(out.fields, fr)
	}
	return out
}

func (t *nodeTerm) matches(node *corev1.Node) bool {
	if !t.valid {
		return false
	}
	if t.labels != nil && !t.labels.Matches(labels.Set(node.Labels)) {
		return false
	}
	for _, f := range t.fields {
		if _, ok := f.values[node.Name]; ok != f.in {
			return false
		}
	}
	return true
}

// Matches reports whether node satisfies the selector.
func (s *NodeSelector) Matches(node *corev1.Node) bool {
	if s == nil {
		return true
	}
	if s.labels != nil && !s.labels.Matches(labels.Set(node.Labels)) {
		return false
	}
	if !s.hasTerms {
		return true
	}
	for i := range s.terms {
		if s.terms[i].matches(node) {
			return true
		}
	}
	return false
}
