package daemonset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubelab/kubelab/components/controllers/ownership"
)

// scaled resolves an int-or-percent of total, rounding up (as upstream's
// SurgeCount and UnavailableCount); invalid or unset values are 0.
func scaled(v *intstr.IntOrString, total int) int {
	if v == nil {
		return 0
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, total, true)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// allowsSurge reports whether the rolling update may run an old and a new
// pod on a node at once.
func allowsSurge(ds *appsv1.DaemonSet) bool {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	return ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType && ru != nil && scaled(ru.MaxSurge, 1) != 0
}

// findUpdatedPodsOnNode splits a node's live pods into the current and
// the old one; false if there is more than one of either (manage cleans
// that up first).
func findUpdatedPodsOnNode(pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if isUpdated(pod, hash) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = pod
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = pod
		}
	}
	return newPod, oldPod, true
}

// rollingUpdate replaces old pods as upstream's RollingUpdate does.
// Without surge it deletes old pods while fewer than maxUnavailable
// nodes lack an available pod (old pods that are not available anyway
// go first, without counting); manage then creates their replacements.
// With surge it creates new pods beside old ones on up to maxSurge nodes
// and deletes an old pod once its replacement is available.
func (dsc *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, key string, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string) error {
	spec := ds.Spec.Template.Spec.DeepCopy()
	addDaemonTolerations(spec)
	desired := 0
	candidates := map[string][]*corev1.Pod{}
	for name, pods := range nodeToPods {
		candidates[name] = pods
	}
	eligible := map[string]bool{}
	for _, node := range nodes {
		if run, _ := shouldRun(node, spec); run {
			desired++
			eligible[node.Name] = true
			if _, ok := candidates[node.Name]; !ok {
				candidates[node.Name] = nil
			}
		}
	}
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	var maxSurge, maxUnavailable int
	if ru != nil {
		maxSurge, maxUnavailable = scaled(ru.MaxSurge, desired), scaled(ru.MaxUnavailable, desired)
	}
	if maxSurge == 0 && maxUnavailable == 0 {
		maxUnavailable = 1 // an impossible configuration falls back to upstream's default
	}
	now := metav1.NewTime(dsc.now())
	available := func(p *corev1.Pod) bool { return ownership.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) }

	if maxSurge == 0 {
		unavailable := 0
		var replace, candidatesToDelete []*corev1.Pod
		for _, name := range sortedKeys(candidates) {
			newPod, oldPod, ok := findUpdatedPodsOnNode(candidates[name], hash)
			switch {
			case !ok:
				unavailable++
			case newPod == nil && oldPod == nil, newPod != nil && oldPod != nil:
				unavailable++ // manage creates or cleans up here
			case newPod != nil:
				if !available(newPod) {
					unavailable++
				}
			case !available(oldPod):
				replace = append(replace, oldPod) // not serving anyway
			case unavailable < maxUnavailable:
				candidatesToDelete = append(candidatesToDelete, oldPod)
			}
		}
		budget := max(0, min(maxUnavailable-unavailable, len(candidatesToDelete)))
		return dsc.syncNodes(ctx, ds, key, append(replace, candidatesToDelete[:budget]...), nil, hash)
	}

	surged := 0
	var oldToDelete []*corev1.Pod
	var allowedNew, candidateNew []string
	for _, name := range sortedKeys(candidates) {
		newPod, oldPod, ok := findUpdatedPodsOnNode(candidates[name], hash)
		if !ok {
			surged++
			continue
		}
		switch {
		case oldPod == nil:
			// nothing to replace; manage creates a missing pod
		case !eligible[name]:
			oldToDelete = append(oldToDelete, oldPod)
		case newPod == nil && !available(oldPod):
			allowedNew = append(allowedNew, name)
		case newPod == nil && surged < maxSurge:
			candidateNew = append(candidateNew, name)
		case newPod == nil:
		case !available(newPod):
			surged++ // waiting for the new pod
		default:
			oldToDelete = append(oldToDelete, oldPod)
		}
	}
	budget := max(0, min(maxSurge-surged, len(candidateNew)))
	return dsc.syncNodes(ctx, ds, key, oldToDelete, append(allowedNew, candidateNew[:budget]...), hash)
}
