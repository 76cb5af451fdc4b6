package app

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestParseTaint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want corev1.Taint
		ok   bool
	}{
		{"dedicated=gpu:NoSchedule", corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}, true},
		{"node.kubernetes.io/not-ready:NoExecute", corev1.Taint{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoExecute}, true},
		{"a=b", corev1.Taint{}, false},
		{"a=b:Sometimes", corev1.Taint{}, false},
		{"=b:NoSchedule", corev1.Taint{}, false},
	} {
		got, err := parseTaint(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseTaint(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestHollowOptions(t *testing.T) {
	o := NewOptions()
	o.HollowNodes = 3
	o.Capacity = map[string]string{"cpu": "8", "pods": "20"}
	o.RegisterWithTaints = []string{"x=y:NoSchedule"}
	o.NodeLeaseDurationSeconds = 20
	h, err := o.HollowOptions()
	if err != nil {
		t.Fatal(err)
	}
	if h.Count != 3 || h.Capacity.Cpu().Value() != 8 || h.Capacity.Pods().Value() != 20 || len(h.Taints) != 1 ||
		h.RenewInterval != 5*time.Second || h.StatusUpdateInterval != time.Minute {
		t.Fatalf("hollow options = %+v", h)
	}
	o.Capacity = map[string]string{"cpu": "lots"}
	if _, err := o.HollowOptions(); err == nil {
		t.Fatal("bad quantity accepted")
	}
}
