package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestBadInput feeds the whole control plane what it must survive:
// invalid and impossible affinities, a pod whose owner never existed and
// a flapping node. Components report, keep running, and no pod is lost
// or duplicated.
func TestBadInput(t *testing.T) {
	cl := startCluster(t, 3)

	t.Run("invalid affinity is rejected", func(t *testing.T) {
		ns := cl.namespace(t, "invalid")
		d := deployment("bad", "bad:1", 2, 1, 0)
		d.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}},
			}}},
		}}
		_, err := cl.c.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Fatalf("create a deployment with an In requirement without values: %v, want Invalid", err)
		}
		if !strings.Contains(err.Error(), "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values") {
			t.Errorf("error %q does not name the field", err)
		}
	})

	t.Run("selector not matching the template is rejected", func(t *testing.T) {
		ns := cl.namespace(t, "selector")
		rs := replicaSet("bad", 2)
		rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
		_, err := cl.c.AppsV1().ReplicaSets(ns).Create(t.Context(), rs, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "`selector` does not match template `labels`") {
			t.Fatalf("create a replica set whose selector does not match its template: %v, want Invalid", err)
		}
	})

	t.Run("overlapping selectors", func(t *testing.T) {
		ctx := t.Context()
		ns := cl.namespace(t, "overlap")
		obs := cl.observePods(t, ns, "app=shared", atMostActive(4))
		var owners []types.UID
		for _, name := range []string{"a", "b"} {
			rs := replicaSet(name, 2)
			labels := map[string]string{"app": "shared"}
			rs.Spec.Selector.MatchLabels, rs.Spec.Template.Labels = labels, labels
			got, err := cl.c.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			owners = append(owners, got.UID)
		}
		cl.waitRSStatus(t, ns, "a", 2)
		cl.waitRSStatus(t, ns, "b", 2)
		consistently(t, 2*time.Second, "two pods for each replica set", func(ctx context.Context) (bool, string) {
			pods, err := cl.listPods(ctx, ns, "app=shared")
			if err != nil {
				return false, err.Error()
			}
			by := map[types.UID]int{}
			for _, p := range pods {
				if ref := metav1.GetControllerOf(&p); ref != nil && podActive(&p) {
					by[ref.UID]++
				}
			}
			return len(pods) == 4 && by[owners[0]] == 2 && by[owners[1]] == 2, describePods(pods)
		})
		obs.catchUp(t)
		obs.assertNoViolations(t)
		if n := len(obs.everSeen()); n != 4 {
			t.Errorf("%d pods were created, want 4", n)
		}
	})

	t.Run("impossible affinity leaves pods pending", func(t *testing.T) {
		ctx := t.Context()
		ns := cl.namespace(t, "impossible")
		d := deployment("nowhere", "nowhere:1", 2, 1, 0)
		d.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"mars"}}},
			}}},
		}}
		obs := cl.observePods(t, ns, "app=nowhere", atMostActive(2))
		if _, err := cl.c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		const wantMsg = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
		waitFor(t, "2 unschedulable pods", func(ctx context.Context) (bool, string) {
			pods, err := cl.listPods(ctx, ns, "app=nowhere")
			if err != nil {
				return false, err.Error()
			}
			n := 0
			var seen []string
			for _, p := range pods {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodScheduled {
						seen = append(seen, fmt.Sprintf("%s %s %q", c.Status, c.Reason, c.Message))
						if c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable && c.Message == wantMsg {
							n++
						}
					}
				}
			}
			return n == 2 && len(pods) == 2, strings.Join(seen, "; ")
		})
		waitFor(t, "FailedScheduling events", func(ctx context.Context) (bool, string) {
			evs, err := cl.c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("reason", "FailedScheduling").String()})
			if err != nil {
				return false, err.Error()
			}
			return len(evs.Items) >= 2, fmt.Sprintf("%d events", len(evs.Items))
		})
		// The rollout cannot progress, but nothing churns either.
		consistently(t, 2*time.Second, "the same 2 pending pods", func(ctx context.Context) (bool, string) {
			pods, err := cl.listPods(ctx, ns, "app=nowhere")
			ok := err == nil && len(pods) == 2
			for _, p := range pods {
				ok = ok && p.Spec.NodeName == "" && podActive(&p)
			}
			return ok, describePods(pods)
		})
		obs.catchUp(t)
		obs.assertNoViolations(t)
		if n := len(obs.everSeen()); n != 2 {
			t.Errorf("%d pods were created, want 2", n)
		}
	})

	t.Run("owner that never existed", func(t *testing.T) {
		ctx := t.Context()
		ns := cl.namespace(t, "orphans")
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: map[string]string{"app": "orphan"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "ghost",
					UID: types.UID("00000000-0000-0000-0000-00000000dead"), Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{Containers: container("orphan:1")},
		}
		if _, err := cl.c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, "pod with a missing owner", func(ctx context.Context) error {
			_, err := cl.c.CoreV1().Pods(ns).Get(ctx, "orphan", metav1.GetOptions{})
			return err
		})
	})

	t.Run("flapping node", func(t *testing.T) {
		const replicas = 6
		ctx := t.Context()
		ns := cl.namespace(t, "flap")
		obs := cl.observePods(t, ns, "app=web", atMostActive(replicas))
		if _, err := cl.c.AppsV1().ReplicaSets(ns).Create(ctx, replicaSet("web", replicas), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		before := cl.waitRunning(t, ns, "app=web", replicas)
		flapper := before[0].Spec.NodeName
		// Short silences the controllers should not even notice, then one
		// long enough to have the node judged lost and tainted, then short
		// ones again; the kubelet resumes after each.
		flap := func(silences ...time.Duration) {
			for _, d := range silences {
				cl.nodes.Stop(flapper)
				time.Sleep(d)
				cl.nodes.Resume(flapper)
				time.Sleep(300 * time.Millisecond)
			}
		}
		flap(300*time.Millisecond, 700*time.Millisecond, 200*time.Millisecond)
		cl.nodes.Stop(flapper)
		waitFor(t, "node "+flapper+" judged lost", func(ctx context.Context) (bool, string) {
			n, err := cl.c.CoreV1().Nodes().Get(ctx, flapper, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			tainted := slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
				return t.Key == corev1.TaintNodeUnreachable && t.Effect == corev1.TaintEffectNoExecute
			})
			return nodeReady(n) == corev1.ConditionUnknown && tainted, fmt.Sprintf("ready=%s taints=%v", nodeReady(n), n.Spec.Taints)
		})
		cl.nodes.Resume(flapper)
		flap(500*time.Millisecond, 100*time.Millisecond, 800*time.Millisecond)
		cl.waitNodesReady(t, 3)
		after := cl.waitRunning(t, ns, "app=web", replicas)
		for id, name := range uids(before) {
			if _, ok := uids(after)[id]; !ok {
				t.Errorf("pod %s lost while its node flapped", name)
			}
		}
		cl.waitRSStatus(t, ns, "web", replicas)
		obs.catchUp(t)
		obs.assertNoViolations(t)
		if n := len(obs.everSeen()); n != replicas {
			t.Errorf("%d pods were created, want %d", n, replicas)
		}
		// The node was judged lost once, and its pods were marked not ready.
		evs, err := cl.c.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: fields.Set{
			"involvedObject.kind": "Node", "involvedObject.name": flapper, "reason": "NodeNotReady"}.AsSelector().String()})
		if err != nil || len(evs.Items) == 0 {
			t.Errorf("no NodeNotReady event for %s (%v)", flapper, err)
		}
	})

	t.Run("controllers still work", func(t *testing.T) {
		ns := cl.namespace(t, "after")
		if _, err := cl.c.AppsV1().Deployments(ns).Create(t.Context(), deployment("web", "web:1", 3, 1, 0), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cl.waitRolledOut(t, ns, "web")
	})
}
