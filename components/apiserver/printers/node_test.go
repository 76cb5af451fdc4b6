package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeRowStatusAndRoles(t *testing.T) {
	ready := func(s corev1.ConditionStatus) []corev1.NodeCondition {
		return []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: s}}
	}
	tests := []struct {
		name          string
		labels        map[string]string
		conditions    []corev1.NodeCondition
		unschedulable bool
		status, roles string
	}{
		{name: "ready", conditions: ready(corev1.ConditionTrue), status: "Ready", roles: "<none>"},
		{name: "not ready", conditions: ready(corev1.ConditionFalse), status: "NotReady", roles: "<none>"},
		{name: "ready unknown", conditions: ready(corev1.ConditionUnknown), status: "NotReady", roles: "<none>"},
		{name: "no ready condition", status: "Unknown", roles: "<none>"},
		{name: "cordoned", conditions: ready(corev1.ConditionTrue), unschedulable: true, status: "Ready,SchedulingDisabled", roles: "<none>"},
		{name: "cordoned without status", unschedulable: true, status: "Unknown,SchedulingDisabled", roles: "<none>"},
		{
			name:   "control plane",
			labels: map[string]string{"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "n"},
			status: "Unknown", roles: "control-plane",
		},
		{
			name: "roles sorted and merged with the legacy label",
			labels: map[string]string{
				"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/ingress": "true",
				"kubernetes.io/role": "master", "node-role.kubernetes.io/": "",
			},
			status: "Unknown", roles: "ingress,master,worker",
		},
		{name: "empty legacy role", labels: map[string]string{"kubernetes.io/role": ""}, status: "Unknown", roles: "<none>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: tt.labels},
				Spec:       corev1.NodeSpec{Unschedulable: tt.unschedulable},
				Status:     corev1.NodeStatus{Conditions: tt.conditions},
			}
			row := NodeRow(node)
			if row[1] != tt.status {
				t.Errorf("STATUS = %v, want %v", row[1], tt.status)
			}
			if row[2] != tt.roles {
				t.Errorf("ROLES = %v, want %v", row[2], tt.roles)
			}
		})
	}
}

func TestNodeRowWide(t *testing.T) {
	tests := []struct {
		name string
		node corev1.Node
		want []interface{}
	}{
		{
			name: "registered node",
			node: corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "kind-worker", CreationTimestamp: ago(26 * time.Hour)},
				Status: corev1.NodeStatus{
					Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
					Addresses: []corev1.NodeAddress{
						{Type: corev1.NodeHostName, Address: "kind-worker"},
						{Type: corev1.NodeInternalIP, Address: "172.18.0.3"},
						{Type: corev1.NodeInternalIP, Address: "fc00::3"},
					},
					NodeInfo: corev1.NodeSystemInfo{
						KubeletVersion: "v1.33.1", OSImage: "Debian GNU/Linux 12 (bookworm)",
						KernelVersion: "6.1.0-18-amd64", ContainerRuntimeVersion: "containerd://2.4.2",
					},
				},
			},
			want: []interface{}{"kind-worker", "Ready", "<none>", "26h", "v1.33.1", "172.18.0.3", "<none>",
				"Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "containerd://2.4.2"},
		},
		{
			name: "node without status",
			node: corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", CreationTimestamp: ago(time.Minute)}},
			want: []interface{}{"n", "Unknown", "<none>", "60s", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assertRow(t, NodeRow(&tt.node), tt.want) })
	}
}
