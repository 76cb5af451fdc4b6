package defaults

import (
	corev1 "k8s.io/api/core/v1"
)

// DefaultTolerationSeconds is how long a pod stays bound to a node that is
// not ready or unreachable, as upstream's DefaultTolerationSeconds admission
// plugin sets it by default.
const DefaultTolerationSeconds int64 = 300

// Priorities of the built-in PriorityClasses upstream always creates.
const (
	// SystemClusterCritical is the value of system-cluster-critical.
	SystemClusterCritical int32 = 2000000000
	// SystemNodeCritical is the value of system-node-critical.
	SystemNodeCritical int32 = 2000001000
)

// mirrorPodAnnotation marks pods the kubelet creates for static pods; the
// ServiceAccount admission plugin leaves them alone.
const mirrorPodAnnotation = "kubernetes.io/config.mirror"

// admitPod applies the mutations of the admission plugins every upstream
// API server enables by default: ServiceAccount (the "default" account),
// Priority (priority and preemption policy from the priority class) and
// DefaultTolerationSeconds (tolerate not-ready and unreachable nodes for
// five minutes).
func admitPod(p *corev1.Pod) {
	spec := &p.Spec
	if _, mirror := p.Annotations[mirrorPodAnnotation]; !mirror && spec.ServiceAccountName == "" {
		spec.ServiceAccountName = "default"
	}
	priority(spec)
	tolerations(spec)
}

// priority resolves the built-in priority classes; a pod without a class
// gets priority 0, as upstream does when no global default class exists.
// Unknown classes are left alone.
func priority(spec *corev1.PodSpec) {
	var value int32
	switch spec.PriorityClassName {
	case "":
		value = 0
	case "system-node-critical":
		value = SystemNodeCritical
	case "system-cluster-critical":
		value = SystemClusterCritical
	default:
		return
	}
	if spec.Priority == nil {
		spec.Priority = &value
	}
	if spec.PreemptionPolicy == nil {
		policy := corev1.PreemptLowerPriority
		spec.PreemptionPolicy = &policy
	}
}

// tolerations adds the not-ready and unreachable NoExecute tolerations
// unless the pod already tolerates those taints.
func tolerations(spec *corev1.PodSpec) {
	notReady, unreachable := false, false
	for _, t := range spec.Tolerations {
		anyEffect := t.Effect == "" || t.Effect == corev1.TaintEffectNoExecute
		if anyEffect && (t.Key == "" || t.Key == corev1.TaintNodeNotReady) {
			notReady = true
		}
		if anyEffect && (t.Key == "" || t.Key == corev1.TaintNodeUnreachable) {
			unreachable = true
		}
	}
	if !notReady {
		spec.Tolerations = append(spec.Tolerations, noExecuteToleration(corev1.TaintNodeNotReady))
	}
	if !unreachable {
		spec.Tolerations = append(spec.Tolerations, noExecuteToleration(corev1.TaintNodeUnreachable))
	}
}

func noExecuteToleration(key string) corev1.Toleration {
	seconds := DefaultTolerationSeconds
	return corev1.Toleration{
		Key:               key,
		Operator:          corev1.TolerationOpExists,
		Effect:            corev1.TaintEffectNoExecute,
		TolerationSeconds: &seconds,
	}
}
