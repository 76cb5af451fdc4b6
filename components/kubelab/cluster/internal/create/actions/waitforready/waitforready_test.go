package waitforready

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubelab/kubelab/components/kubelab/cluster/config"
)

func TestLabels(t *testing.T) {
	c, err := config.Parse([]byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: lab\nnodes:\n- role: control-plane\n- role: worker\n  labels: {zone: a}\n- role: worker\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := Labels(c)
	want := map[string]map[string]string{
		"lab-control-plane": {"node-role.kubernetes.io/control-plane": "", "node.kubernetes.io/exclude-from-external-load-balancers": ""},
		"lab-worker":        {"zone": "a"},
		"lab-worker2":       {},
	}
	if len(got) != len(want) {
		t.Fatalf("Labels = %v", got)
	}
	for n, l := range want {
		if !maps.Equal(got[n], l) {
			t.Errorf("Labels[%s] = %v, want %v", n, got[n], l)
		}
	}
	if c.Nodes[1].Labels["node-role.kubernetes.io/control-plane"] != "" || len(c.Nodes[1].Labels) != 1 {
		t.Error("Labels modified the config")
	}
}

func TestReadiness(t *testing.T) {
	tests := []struct {
		conds []corev1.NodeCondition
		ready bool
		why   string
	}{
		{nil, false, "no Ready condition yet"},
		{[]corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}, true, ""},
		{[]corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: "network not ready"}}, false, "KubeletNotReady network not ready"},
	}
	for _, tt := range tests {
		why, ready := readiness(&corev1.Node{Status: corev1.NodeStatus{Conditions: tt.conds}})
		if ready != tt.ready || why != tt.why {
			t.Errorf("readiness(%v) = %q, %v; want %q, %v", tt.conds, why, ready, tt.why, tt.ready)
		}
	}
}
