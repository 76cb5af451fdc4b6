package nodelifecycle

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// taintKey identifies a taint the controller manages.
type taintKey struct {
	key    string
	effect corev1.TaintEffect
}

// managedTaints are the taints this controller adds and removes; any other
// taint on a node is left alone.
var managedTaints = map[taintKey]bool{
	{corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute}:            true,
	{corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute}:         true,
	{corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule}:           true,
	{corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule}:        true,
	{corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule}:     true,
	{corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule}:       true,
	{corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule}:        true,
	{corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule}: true,
	{corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule}:      true,
}

// wantedTaints are the managed taints the node's conditions call for:
// upstream's NoSchedule taints by condition, and the NoExecute not-ready
// (Ready=False) or unreachable (Ready=Unknown) taint unless the cluster is
// fully disrupted.
func wantedTaints(n *corev1.Node, disrupted bool) []taintKey {
	var want []taintKey
	switch readyStatus(n) {
	case corev1.ConditionFalse:
		want = append(want, taintKey{corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule})
		if !disrupted {
			want = append(want, taintKey{corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute})
		}
	case corev1.ConditionUnknown:
		want = append(want, taintKey{corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule})
		if !disrupted {
			want = append(want, taintKey{corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute})
		}
	}
	for t, key := range map[corev1.NodeConditionType]string{
		corev1.NodeMemoryPressure:     corev1.TaintNodeMemoryPressure,
		corev1.NodeDiskPressure:       corev1.TaintNodeDiskPressure,
		corev1.NodePIDPressure:        corev1.TaintNodePIDPressure,
		corev1.NodeNetworkUnavailable: corev1.TaintNodeNetworkUnavailable,
	} {
		if c := nodeCondition(n, t); c != nil && c.Status == corev1.ConditionTrue {
			want = append(want, taintKey{key, corev1.TaintEffectNoSchedule})
		}
	}
	if n.Spec.Unschedulable {
		want = append(want, taintKey{corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule})
	}
	return want
}

// desiredTaints is the node's taint list with the managed taints replaced
// by the wanted ones; taints already present keep their timeAdded.
func desiredTaints(n *corev1.Node, want []taintKey, now metav1.Time) []corev1.Taint {
	wanted := map[taintKey]bool{}
	for _, k := range want {
		wanted[k] = true
	}
	var out []corev1.Taint
	have := map[taintKey]bool{}
	for _, t := range n.Spec.Taints {
		k := taintKey{t.Key, t.Effect}
		if managedTaints[k] && !wanted[k] {
			continue
		}
		have[k] = true
		out = append(out, t)
	}
	for _, k := range want {
		if have[k] {
			continue
		}
		t := corev1.Taint{Key: k.key, Effect: k.effect}
		if k.effect == corev1.TaintEffectNoExecute {
			added := now
			t.TimeAdded = &added
		}
		out = append(out, t)
	}
	return out
}

// reconcileTaints patches the node's taints when they differ from the
// desired ones, guarded by its resourceVersion so a concurrent taint edit
// is never lost.
func (c *Controller) reconcileTaints(ctx context.Context, n *corev1.Node, disrupted bool) error {
	want := desiredTaints(n, wantedTaints(n, disrupted), metav1.NewTime(c.now()))
	if sameTaints(want, n.Spec.Taints) {
		return nil
	}
	data, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": n.ResourceVersion, "uid": n.UID},
		"spec":     map[string]any{"taints": want},
	})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update taints of node %s: %w", n.Name, err)
	}
	c.log.Info("node taints updated", "node", n.Name, "taints", taintStrings(want))
	return nil
}

// sameTaints compares taint lists by key, value and effect, in any order.
func sameTaints(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, t := range a {
		seen[t.ToString()]++
	}
	for _, t := range b {
		seen[t.ToString()]--
		if seen[t.ToString()] < 0 {
			return false
		}
	}
	return true
}

func noExecuteTaints(ts []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range ts {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

func taintStrings(ts []corev1.Taint) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ToString()
	}
	return out
}
