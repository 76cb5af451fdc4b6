package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func sequential(n int, fn func(int)) {
	for i := range n {
		fn(i)
	}
}

// best returns the name of the highest scoring node (first on ties).
func best(pi *PodInfo, nodes []*NodeInfo) (string, []int64) {
	c := &Cycle{}
	c.Reset(pi)
	totals := make([]int64, len(nodes))
	anyAffinity := false
	for _, n := range nodes {
		if len(n.PodsWithAffinity) > 0 {
			anyAffinity = true
		}
	}
	c.Score(nodes, nodes, anyAffinity, totals, sequential)
	b := 0
	for i := range totals {
		if totals[i] > totals[b] {
			b = i
		}
	}
	return nodes[b].Name, totals
}

func TestLeastAllocated(t *testing.T) {
	tests := []struct {
		name     string
		node     *corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     int64
	}{
		{"empty node", node("n", "4", "4Gi", 10), nil, pod("p", "1", "1Gi"), (75 + 75) / 2},
		{"half used", node("n", "4", "4Gi", 10), []*corev1.Pod{pod("a", "1", "1Gi")}, pod("p", "1", "1Gi"), (50 + 50) / 2},
		{"defaults for no requests", node("n", "1", "1000Mi", 10), nil, pod("p", "", ""), (90 + 80) / 2},
		{"over capacity scores zero", node("n", "1", "1Gi", 10), nil, pod("p", "2", "2Gi"), 0},
		{"no allocatable", node("n", "0", "0", 10), nil, pod("p", "1", "1Gi"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LeastAllocated(NewPodInfo(tt.pod), nodeInfo(tt.node, tt.existing...)); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestBalancedAllocation(t *testing.T) {
	tests := []struct {
		name     string
		node     *corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     int64
	}{
		{"balanced", node("n", "4", "4Gi", 10), nil, pod("p", "1", "1Gi"), 100},
		{"cpu heavy", node("n", "4", "4Gi", 10), nil, pod("p", "2", "0"), 75},
		{"capped at full", node("n", "1", "1Gi", 10), nil, pod("p", "4", "0"), 50},
		{"counts existing pods", node("n", "4", "4Gi", 10), []*corev1.Pod{pod("a", "0", "2Gi")}, pod("p", "2", "0"), 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BalancedAllocation(NewPodInfo(tt.pod), nodeInfo(tt.node, tt.existing...)); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestScorePicks(t *testing.T) {
	preferred := func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
			Weight: 10, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}},
		}}}}
	}
	preferAway := func(p *corev1.Pod) {
		tm := term(corev1.LabelHostname, "app", "web")
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: tm}}}}
	}
	tests := []struct {
		name  string
		nodes func() []*NodeInfo
		pod   *corev1.Pod
		want  string
	}{
		{
			name: "least allocated wins",
			nodes: func() []*NodeInfo {
				return []*NodeInfo{nodeInfo(node("busy", "4", "4Gi", 10), pod("a", "3", "3Gi")), nodeInfo(node("idle", "4", "4Gi", 10))}
			},
			pod: pod("p", "100m", "100Mi"), want: "idle",
		},
		{
			name: "PreferNoSchedule taint is avoided",
			nodes: func() []*NodeInfo {
				return []*NodeInfo{nodeInfo(node("tainted", "4", "4Gi", 10, withTaint("k", "v", corev1.TaintEffectPreferNoSchedule))),
					nodeInfo(node("clean", "4", "4Gi", 10), pod("a", "500m", "500Mi"))}
			},
			pod: pod("p", "100m", "100Mi"), want: "clean",
		},
		{
			name: "preferred node affinity",
			nodes: func() []*NodeInfo {
				return []*NodeInfo{nodeInfo(node("hdd", "4", "4Gi", 10)), nodeInfo(node("ssd", "4", "4Gi", 10, withLabels("disk", "ssd")), pod("a", "500m", "500Mi"))}
			},
			pod: pod("p", "100m", "100Mi", preferred), want: "ssd",
		},
		{
			name: "pods of one owner spread",
			nodes: func() []*NodeInfo {
				return []*NodeInfo{nodeInfo(node("has", "4", "4Gi", 10), pod("a", "100m", "100Mi", ownedBy("rs")), pod("b", "100m", "100Mi", ownedBy("rs"))),
					nodeInfo(node("other", "4", "4Gi", 10), pod("c", "400m", "400Mi", ownedBy("x")))}
			},
			pod: pod("p", "100m", "100Mi", ownedBy("rs")), want: "other",
		},
		{
			name: "preferred anti-affinity",
			nodes: func() []*NodeInfo {
				return []*NodeInfo{nodeInfo(node("web", "4", "4Gi", 10), pod("a", "100m", "100Mi", podLabels("app", "web"))),
					nodeInfo(node("db", "4", "4Gi", 10), pod("c", "400m", "400Mi", podLabels("app", "db")))}
			},
			pod: pod("p", "100m", "100Mi", preferAway), want: "db",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, totals := best(NewPodInfo(tt.pod), tt.nodes())
			if got != tt.want {
				t.Fatalf("best %s, want %s (totals %v)", got, tt.want, totals)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	s := []int64{0, 1, 2}
	normalize(s, true)
	if s[0] != 100 || s[1] != 50 || s[2] != 0 {
		t.Fatalf("reverse: %v", s)
	}
	s = []int64{0, 0}
	normalize(s, true)
	if s[0] != 100 || s[1] != 100 {
		t.Fatalf("reverse of zeros: %v", s)
	}
	s = []int64{-10, 0, 10}
	normalizeMinMax(s)
	if s[0] != 0 || s[1] != 50 || s[2] != 100 {
		t.Fatalf("min-max: %v", s)
	}
}
