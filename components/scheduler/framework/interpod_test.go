package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// filterAll runs PreFilter and Filter of the pod over the nodes and returns
// each node's reasons.
func filterAll(pi *PodInfo, nodes []*NodeInfo, nsLabels func(string) labels.Set) map[string][]string {
	anyAnti := false
	for _, n := range nodes {
		if len(n.PodsWithRequiredAntiAffinity) > 0 {
			anyAnti = true
		}
	}
	c := &Cycle{NamespaceLabels: nsLabels}
	c.Reset(pi)
	c.PreFilter(nodes, anyAnti)
	out := map[string][]string{}
	for _, n := range nodes {
		out[n.Name] = reasons(c.Filter(n))
	}
	return out
}

func TestInterPodAffinity(t *testing.T) {
	zoned := func(name, zone string) *corev1.Node {
		return node(name, "4", "4Gi", 10, withLabels(corev1.LabelTopologyZone, zone))
	}
	type want map[string]string // node -> "" (fits) or reason
	tests := []struct {
		name  string
		nodes func() []*NodeInfo
		pod   *corev1.Pod
		want  want
	}{
		{
			name: "anti-affinity on hostname avoids the node with a matching pod",
			nodes: func() []*NodeInfo {
				return []*NodeInfo{nodeInfo(node("n1", "4", "4Gi", 10), pod("a", "", "", podLabels("app", "web"))), nodeInfo(node("n2", "4", "4Gi", 10))}
			},
			pod:  pod("p", "", "", podLabels("app", "web"), antiAffinity(corev1.LabelHostname, "app", "web")),
			want: want{"n1": ReasonAntiAffinityNotMatch, "n2": ""},
		},
		{
			name: "anti-affinity ignores pods in other namespaces",
			nodes: func() []*NodeInfo {
				other := pod("a", "", "", podLabels("app", "web"))
				other.Namespace = "other"
				return []*NodeInfo{nodeInfo(node("n1", "4", "4Gi", 10), other)}
			},
			pod:  pod("p", "", "", antiAffinity(corev1.LabelHostname, "app", "web")),
			want: want{"n1": ""},
		},
		{
			name: "existing pod's anti-affinity keeps the pod away",
			nodes: func() []*NodeInfo {
				return []*NodeInfo{nodeInfo(node("n1", "4", "4Gi", 10), pod("a", "", "", antiAffinity(corev1.LabelHostname, "app", "web"))), nodeInfo(node("n2", "4", "4Gi", 10))}
			},
			pod:  pod("p", "", "", podLabels("app", "web")),
			want: want{"n1": ReasonExistingAntiAffinityNotMatch, "n2": ""},
		},
		{
			name: "anti-affinity on zone avoids the whole zone",
			nodes: func() []*NodeInfo {
				return []*NodeInfo{nodeInfo(zoned("n1", "a"), pod("a", "", "", podLabels("app", "db"))), nodeInfo(zoned("n2", "a")), nodeInfo(zoned("n3", "b"))}
			},
			pod:  pod("p", "", "", antiAffinity(corev1.LabelTopologyZone, "app", "db")),
			want: want{"n1": ReasonAntiAffinityNotMatch, "n2": ReasonAntiAffinityNotMatch, "n3": ""},
		},
		{
			name: "affinity requires a matching pod in the domain",
			nodes: func() []*NodeInfo {
				return []*NodeInfo{nodeInfo(zoned("n1", "a"), pod("a", "", "", podLabels("app", "db"))), nodeInfo(zoned("n2", "a")), nodeInfo(zoned("n3", "b"))}
			},
			pod:  pod("p", "", "", podAffinity(corev1.LabelTopologyZone, "app", "db")),
			want: want{"n1": "", "n2": "", "n3": ReasonAffinityNotMatch},
		},
		{
			name: "the first pod of a self-affine group goes anywhere",
			nodes: func() []*NodeInfo {
				return []*NodeInfo{nodeInfo(zoned("n1", "a")), nodeInfo(zoned("n2", "b"))}
			},
			pod:  pod("p", "", "", podLabels("app", "db"), podAffinity(corev1.LabelTopologyZone, "app", "db")),
			want: want{"n1": "", "n2": ""},
		},
		{
			name: "affinity nobody matches",
			nodes: func() []*NodeInfo {
				return []*NodeInfo{nodeInfo(zoned("n1", "a"))}
			},
			pod:  pod("p", "", "", podAffinity(corev1.LabelTopologyZone, "app", "db")),
			want: want{"n1": ReasonAffinityNotMatch},
		},
		{
			name: "affinity on a key the node lacks",
			nodes: func() []*NodeInfo {
				return []*NodeInfo{nodeInfo(node("n1", "4", "4Gi", 10), pod("a", "", "", podLabels("app", "db")))}
			},
			pod:  pod("p", "", "", podAffinity("rack", "app", "db")),
			want: want{"n1": ReasonAffinityNotMatch},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := filterAll(NewPodInfo(tt.pod), tt.nodes(), nil)
			for n, w := range tt.want {
				g := ""
				if len(got[n]) > 0 {
					g = got[n][0]
				}
				if g != w {
					t.Errorf("node %s: got %q, want %q", n, g, w)
				}
			}
		})
	}
}

func TestAffinityNamespaceSelector(t *testing.T) {
	existing := pod("a", "", "", podLabels("app", "web"))
	existing.Namespace = "team-a"
	nodes := []*NodeInfo{nodeInfo(node("n1", "4", "4Gi", 10), existing)}
	p := pod("p", "", "", func(p *corev1.Pod) {
		tm := term(corev1.LabelHostname, "app", "web")
		tm.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{tm}}}
	})
	nsLabels := func(ns string) labels.Set {
		if ns == "team-a" {
			return labels.Set{"team": "a"}
		}
		return nil
	}
	if got := filterAll(NewPodInfo(p), nodes, nsLabels)["n1"]; len(got) != 1 || got[0] != ReasonAntiAffinityNotMatch {
		t.Fatalf("with namespace labels: got %q", got)
	}
	if got := filterAll(NewPodInfo(p), nodes, nil)["n1"]; got != nil {
		t.Fatalf("without namespace labels: got %q", got)
	}
}

func TestFilterOrder(t *testing.T) {
	// A cordoned, tainted, too small node reports only the first failing
	// filter, as upstream does.
	n := node("n", "1", "1Gi", 10, cordoned, withTaint("k", "v", corev1.TaintEffectNoSchedule))
	c := &Cycle{}
	c.Reset(NewPodInfo(pod("p", "2", "")))
	c.PreFilter([]*NodeInfo{nodeInfo(n)}, false)
	if got := reasons(c.Filter(nodeInfo(n))); len(got) != 1 || got[0] != ReasonUnschedulable {
		t.Fatalf("got %q", got)
	}
}
