package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestFitErrorMessage(t *testing.T) {
	tests := []struct {
		name     string
		nodes    int
		statuses []*Status
		want     string
	}{
		{"no nodes", 0, nil, "no nodes available to schedule pods"},
		{"one reason", 3, []*Status{statusInsufficientCPU, statusInsufficientCPU, statusInsufficientCPU}, "0/3 nodes are available: 3 Insufficient cpu."},
		{
			"sorted as strings", 5,
			[]*Status{
				Unfit("node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
				statusNodeSelector, statusNodeSelector,
				statusInsufficientMemory, statusInsufficientMemory,
			},
			"0/5 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector.",
		},
		{
			"several reasons per node", 2,
			[]*Status{Unfit("Insufficient cpu", "Insufficient memory"), statusInsufficientCPU},
			"0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.",
		},
		{"nil statuses are skipped", 2, []*Status{nil, statusPorts}, "0/2 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewFitError(tt.nodes, tt.statuses).Error(); got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestFitErrorFromFilters runs the filters over a small cluster and checks
// the aggregated message end to end.
func TestFitErrorFromFilters(t *testing.T) {
	nodes := []*NodeInfo{
		nodeInfo(node("a", "1", "1Gi", 10)),
		nodeInfo(node("b", "1", "8Gi", 10)),
		nodeInfo(node("c", "8", "1Gi", 10, withReady(corev1.ConditionFalse))),
		nodeInfo(node("d", "8", "8Gi", 10, cordoned)),
	}
	pi := NewPodInfo(pod("p", "2", "2Gi"))
	c := &Cycle{}
	c.Reset(pi)
	c.PreFilter(nodes, false)
	var statuses []*Status
	for _, n := range nodes {
		statuses = append(statuses, c.Filter(n))
	}
	want := "0/4 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable, 2 Insufficient cpu."
	if got := NewFitError(len(nodes), statuses).Error(); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
