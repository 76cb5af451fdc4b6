package node

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critest "k8s.io/cri-api/pkg/apis/testing"

	"github.com/kubelab/kubelab/components/kubelet/cni"
	"github.com/kubelab/kubelab/components/kubelet/machine"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func setNetwork(rt *critest.FakeRuntimeService, ready bool) {
	rt.Lock()
	defer rt.Unlock()
	rt.FakeStatus = &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true},
		{Type: runtimeapi.NetworkReady, Status: ready, Reason: "NetworkPluginNotReady", Message: "cni plugin not initialized"},
	}}
}

func nodeReady(n *corev1.Node) (corev1.ConditionStatus, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status, c.Message
		}
	}
	return "", ""
}

func TestAgent(t *testing.T) {
	client := fake.NewClientset()
	rt := critest.NewFakeRuntimeService()
	setNetwork(rt, false)
	in := machine.Info{MilliCPU: 2000, MemoryBytes: 4 << 30, MachineID: "m1", KernelVersion: "6.1"}
	capacity := in.Capacity(110)
	cniDir := filepath.Join(t.TempDir(), "net.d")
	a := New(Options{
		Client: client, Runtime: rt, Name: "kind-worker", IP: net.ParseIP("172.18.0.3"),
		Machine: in, Capacity: capacity, Allocatable: machine.Allocatable(capacity, nil),
		Labels:         map[string]string{"node-role.kubernetes.io/worker": ""},
		Taints:         []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectNoSchedule}},
		KubeletVersion: "v1.37.2-kubelab", CheckInterval: 10 * time.Millisecond, ReportInterval: time.Hour,
		RenewInterval: 50 * time.Millisecond, CNIConfDir: cniDir,
	})
	ctx := t.Context()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	<-a.Registered()
	n, err := client.CoreV1().Nodes().Get(ctx, "kind-worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels[corev1.LabelHostname] != "kind-worker" || n.Labels[corev1.LabelOSStable] != "linux" ||
		n.Labels["node-role.kubernetes.io/worker"] != "" || len(n.Spec.Taints) != 1 {
		t.Errorf("labels/taints: %v %v", n.Labels, n.Spec.Taints)
	}
	if n.Status.Addresses[0].Address != "172.18.0.3" || n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 ||
		n.Status.NodeInfo.KubeletVersion != "v1.37.2-kubelab" || !strings.Contains(n.Status.NodeInfo.ContainerRuntimeVersion, "://") {
		t.Errorf("status: %+v", n.Status)
	}
	if q := n.Status.Allocatable[corev1.ResourceMemory]; q.Cmp(resource.MustParse("3996Mi")) != 0 {
		t.Errorf("allocatable memory %s", q.String())
	}
	if s, msg := nodeReady(n); s != corev1.ConditionFalse || !strings.Contains(msg, "NetworkReady=false") {
		t.Errorf("ready = %s %q while the network is not", s, msg)
	}
	if ok, _ := a.NetworkReady(); ok {
		t.Error("network ready")
	}
	if _, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "kind-worker", metav1.GetOptions{}); err != nil {
		t.Errorf("lease: %v", err)
	}

	// Node IPAM assigns the podCIDR: the CNI config follows.
	n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.3.0/24", []string{"10.244.3.0/24"}
	if _, err := client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "CNI config written", func() bool { return cni.Present(cniDir) })
	b, _ := os.ReadFile(filepath.Join(cniDir, cni.FileName))
	if !strings.Contains(string(b), "10.244.3.0/24") {
		t.Errorf("CNI config: %s", b)
	}
	setNetwork(rt, true)
	eventually(t, "node Ready", func() bool {
		n, err := client.CoreV1().Nodes().Get(ctx, "kind-worker", metav1.GetOptions{})
		s, _ := nodeReady(n)
		return err == nil && s == corev1.ConditionTrue
	})
	if !a.Ready() {
		t.Error("agent not ready")
	}
	rt.InjectError("Status", errBoom)
	rt.InjectError("Status", errBoom)
	eventually(t, "NotReady when the runtime is down", func() bool {
		n, _ := client.CoreV1().Nodes().Get(ctx, "kind-worker", metav1.GetOptions{})
		s, msg := nodeReady(n)
		return s == corev1.ConditionFalse && strings.Contains(msg, "container runtime is down")
	})
}

var errBoom = os.ErrDeadlineExceeded
