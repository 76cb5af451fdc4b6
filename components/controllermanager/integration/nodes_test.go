package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
)

// onePerNode is an invariant of a DaemonSet: no node has two active pods.
func onePerNode(pods []*corev1.Pod) string {
	byNode := map[string][]string{}
	for _, p := range pods {
		if podActive(p) && p.Spec.NodeName != "" {
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p.Name)
		}
	}
	for node, names := range byNode {
		if len(names) > 1 {
			return fmt.Sprintf("node %s runs %v", node, names)
		}
	}
	return ""
}

// waitDaemonPods waits until the DaemonSet's pods run ready on exactly
// the nodes named and its status counts them.
func (cl *cluster) waitDaemonPods(t *testing.T, ns, name string, nodes ...string) {
	t.Helper()
	slices.Sort(nodes)
	want := int32(len(nodes))
	waitFor(t, fmt.Sprintf("daemon pods on %v", nodes), func(ctx context.Context) (bool, string) {
		pods, err := cl.listPods(ctx, ns, "app="+name)
		if err != nil {
			return false, err.Error()
		}
		var on []string
		for i := range pods {
			if podActive(&pods[i]) && pods[i].Status.Phase == corev1.PodRunning && podReady(&pods[i]) {
				on = append(on, pods[i].Spec.NodeName)
			}
		}
		slices.Sort(on)
		if !slices.Equal(on, nodes) || len(pods) != len(nodes) {
			return false, describePods(pods)
		}
		ds, err := cl.c.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s := ds.Status
		return s.ObservedGeneration == ds.Generation && s.DesiredNumberScheduled == want && s.CurrentNumberScheduled == want &&
				s.NumberReady == want && s.NumberAvailable == want && s.UpdatedNumberScheduled == want && s.NumberMisscheduled == 0,
			fmt.Sprintf("status %+v", s)
	})
}

// daemonSet is a DaemonSet of pods labelled app=name.
func daemonSet(name string) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: container("agent:1")},
			},
		},
	}
}

// TestDaemonSetFollowsNodes runs a DaemonSet while hollow nodes join and
// leave: each new node gets a pod, each deleted node's pod goes, and no
// node ever runs two.
func TestDaemonSetFollowsNodes(t *testing.T) {
	cl := startCluster(t, 3)
	ctx := t.Context()
	ns := cl.namespace(t, "ds")
	obs := cl.observePods(t, ns, "app=agent", onePerNode)
	if _, err := cl.c.AppsV1().DaemonSets(ns).Create(ctx, daemonSet("agent"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	base := cl.nodes.Names()
	cl.waitDaemonPods(t, ns, "agent", base...)

	start := time.Now()
	stopExtra := cl.startHollow(t, "extra-node-", 2, nil)
	cl.waitDaemonPods(t, ns, "agent", append(slices.Clone(base), "extra-node-0", "extra-node-1")...)
	t.Logf("daemon pods on 2 added nodes in %v", time.Since(start).Round(time.Millisecond))

	// A Node object created before its kubelet runs: a daemon pod is made
	// for it at once but waits until the hollow kubelet adopts the node and
	// reports it Ready.
	start = time.Now()
	adopted := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "adopted-node-0", Labels: map[string]string{corev1.LabelHostname: "adopted-node-0"}}}
	if _, err := cl.c.CoreV1().Nodes().Create(ctx, adopted, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a pending daemon pod for the node without a kubelet", func(ctx context.Context) (bool, string) {
		pods, err := cl.listPods(ctx, ns, "app=agent")
		if err != nil {
			return false, err.Error()
		}
		for _, p := range pods {
			if nodeAffinityTarget(&p) == "adopted-node-0" {
				return p.Status.Phase == corev1.PodPending && p.Spec.NodeName == "", describePods(pods)
			}
		}
		return false, describePods(pods)
	})
	stopAdopted := cl.startHollow(t, "adopted-node-", 1, nil)
	cl.waitDaemonPods(t, ns, "agent", append(slices.Clone(base), "extra-node-0", "extra-node-1", "adopted-node-0")...)
	t.Logf("daemon pod on the adopted node running %v after the node was created", time.Since(start).Round(time.Millisecond))

	// The added nodes' kubelets stop and their Node objects are deleted.
	start = time.Now()
	stopExtra()
	stopAdopted()
	for _, n := range []string{"extra-node-0", "extra-node-1", "adopted-node-0"} {
		if err := cl.c.CoreV1().Nodes().Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cl.waitDaemonPods(t, ns, "agent", base...)
	t.Logf("daemon pods of 3 deleted nodes gone in %v", time.Since(start).Round(time.Millisecond))
	obs.catchUp(t)
	obs.assertNoViolations(t)
	if n := len(obs.everSeen()); n != 6 {
		t.Errorf("%d daemon pods were ever created, want 6 (one per node that ever existed)", n)
	}
}

// nodeAffinityTarget is the node a daemon pod's required node affinity
// (matchFields metadata.name) names.
func nodeAffinityTarget(p *corev1.Pod) string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == metav1.ObjectNameField && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// TestUnschedulablePodWaitsForRoom creates a pod that fits on none of
// the three nodes: the scheduler reports it as upstream does and binds it
// once a node with room joins.
func TestUnschedulablePodWaitsForRoom(t *testing.T) {
	cl := startCluster(t, 3)
	ctx := t.Context()
	ns := cl.namespace(t, "big")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "big"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "big:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}},
		}}},
	}
	if _, err := cl.c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const wantMsg = "0/3 nodes are available: 3 Insufficient cpu."
	waitFor(t, "PodScheduled=False Unschedulable", func(ctx context.Context) (bool, string) {
		p, err := cl.c.CoreV1().Pods(ns).Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled {
				return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable && c.Message == wantMsg,
					fmt.Sprintf("%+v", c)
			}
		}
		return false, fmt.Sprintf("conditions %+v", p.Status.Conditions)
	})
	waitFor(t, "FailedScheduling event", func(ctx context.Context) (bool, string) {
		evs, err := cl.c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "big").String()})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Reason == "FailedScheduling" && e.Type == corev1.EventTypeWarning && e.Message == wantMsg &&
				e.Source.Component == "default-scheduler" {
				return true, ""
			}
			seen = append(seen, fmt.Sprintf("%s %s %q from %s", e.Type, e.Reason, e.Message, e.Source.Component))
		}
		return false, strings.Join(seen, "; ")
	})

	start := time.Now()
	cl.startHollow(t, "big-node-", 1, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16")})
	waitFor(t, "big pod running on the big node", func(ctx context.Context) (bool, string) {
		p, err := cl.c.CoreV1().Pods(ns).Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Spec.NodeName == "big-node-0" && p.Status.Phase == corev1.PodRunning && podReady(p),
			fmt.Sprintf("node %q phase %s", p.Spec.NodeName, p.Status.Phase)
	})
	t.Logf("scheduled and running %v after the node joined", time.Since(start).Round(time.Millisecond))
}

// TestLostNodePodsComeBackElsewhere silences a node's kubelet: the node
// goes Unknown, is tainted unreachable (NoExecute), its pods are marked
// not ready and, after their 2s toleration, evicted and replaced on the
// other nodes; the ReplicaSet never has more than its replicas active.
// When the kubelet comes back the taint goes and the evicted pods finish
// terminating.
func TestLostNodePodsComeBackElsewhere(t *testing.T) {
	const replicas = 6
	cl := startCluster(t, 3)
	ctx := t.Context()
	ns := cl.namespace(t, "lost")
	rs := replicaSet("web", replicas)
	rs.Spec.Template.Spec.Tolerations = []corev1.Toleration{{
		Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2),
	}}
	obs := cl.observePods(t, ns, "app=web", atMostActive(replicas))
	if _, err := cl.c.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := cl.waitRunning(t, ns, "app=web", replicas)
	lost := before[0].Spec.NodeName
	var onLost []string
	for _, p := range before {
		if p.Spec.NodeName == lost {
			onLost = append(onLost, p.Name)
		}
	}

	start := time.Now()
	if !cl.nodes.Stop(lost) {
		t.Fatalf("node %s is not a hollow node", lost)
	}
	waitFor(t, "node "+lost+" unknown and tainted unreachable", func(ctx context.Context) (bool, string) {
		n, err := cl.c.CoreV1().Nodes().Get(ctx, lost, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		tainted := slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
			return t.Key == corev1.TaintNodeUnreachable && t.Effect == corev1.TaintEffectNoExecute
		})
		return nodeReady(n) == corev1.ConditionUnknown && tainted, fmt.Sprintf("ready=%s taints=%v", nodeReady(n), n.Spec.Taints)
	})
	t.Logf("node %s unknown and tainted %v after its kubelet stopped", lost, time.Since(start).Round(time.Millisecond))
	waitFor(t, fmt.Sprintf("%d pods running elsewhere", replicas), func(ctx context.Context) (bool, string) {
		pods, err := cl.listPods(ctx, ns, "app=web")
		if err != nil {
			return false, err.Error()
		}
		elsewhere := 0
		for i := range pods {
			p := &pods[i]
			if podActive(p) && p.Spec.NodeName != lost && p.Status.Phase == corev1.PodRunning && podReady(p) {
				elsewhere++
			}
		}
		return elsewhere == replicas, describePods(pods)
	})
	t.Logf("%d pods replaced on other nodes %v after the kubelet stopped", len(onLost), time.Since(start).Round(time.Millisecond))
	cl.waitRSStatus(t, ns, "web", replicas)
	// The lost node's pods were marked not ready before they were evicted.
	for _, p := range obs.everSeen() {
		if p.Spec.NodeName == lost && podReady(p) {
			t.Errorf("pod %s on the lost node last seen ready", p.Name)
		}
	}

	start = time.Now()
	cl.nodes.Resume(lost)
	cl.waitNodesReady(t, 3)
	waitFor(t, "evicted pods finish terminating", func(ctx context.Context) (bool, string) {
		pods, err := cl.listPods(ctx, ns, "app=web")
		return err == nil && len(pods) == replicas, describePods(pods)
	})
	t.Logf("node back and evicted pods gone %v after the kubelet resumed", time.Since(start).Round(time.Millisecond))
	cl.waitRunning(t, ns, "app=web", replicas)
	obs.catchUp(t)
	obs.assertNoViolations(t)
	if n, want := len(obs.everSeen()), replicas+len(onLost); n != want {
		t.Errorf("%d pods were ever created, want %d (%d and a replacement for each of %v)", n, want, replicas, onLost)
	}
}
