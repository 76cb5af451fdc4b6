package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critest "k8s.io/cri-api/pkg/apis/testing"

	// The node IPAM controller assigns the test node its podCIDR.
	_ "github.com/kubelab/kubelab/components/controllers/nodeipam"
	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
	"github.com/kubelab/kubelab/components/kubelet/pods"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v (last: %v)", what, timeout, last)
}

// fakeNode is a kubelet on a fake CRI against a test control plane.
type fakeNode struct {
	cp  *testcontrolplane.ControlPlane
	rt  *critest.FakeRuntimeService
	img *critest.FakeImageService
	k   *Kubelet
	dir string
}

// startFakeNode runs a kubelet named name on a fake runtime (rt when
// given) with the static pod manifests files, and waits until it is
// ready. configure may adjust the config.
func startFakeNode(t *testing.T, cp *testcontrolplane.ControlPlane, name string, rt internalapi.RuntimeService,
	files map[string]string, configure func(*Config)) *fakeNode {
	t.Helper()
	fake := critest.NewFakeRuntimeService()
	fake.FakeStatus = &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true}, {Type: runtimeapi.NetworkReady, Status: true}}}
	if rt == nil {
		rt = fake
	}
	img := critest.NewFakeImageService()
	img.SetFakeImages([]string{"busybox"})
	dir := t.TempDir()
	manifests := filepath.Join(dir, "manifests")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(manifests, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{
		RestConfig: cp.Config, NodeName: name, NodeIP: "127.0.0.1", Runtime: rt, Images: img,
		NodeLabels: map[string]string{"node-role.kubernetes.io/worker": ""},
		RootDir:    filepath.Join(dir, "root"), PodLogsDir: filepath.Join(dir, "logs"), CNIConfDir: filepath.Join(dir, "net.d"),
		CgroupRoot: "/kubepods", PodManifestPath: manifests,
	}
	if configure != nil {
		configure(&cfg)
	}
	k, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("kubelet: %v", err)
		}
	})
	select {
	case <-k.Ready():
	case err := <-done:
		t.Fatalf("kubelet stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("kubelet not ready within 30s")
	}
	return &fakeNode{cp: cp, rt: fake, img: img, k: k, dir: dir}
}

// TestKubeletOnFakeRuntime runs the kubelet against a real control plane
// and a fake CRI: the node registers and becomes Ready, an API pod and a
// static pod run and report status, and a deleted pod goes away.
func TestKubeletOnFakeRuntime(t *testing.T) {
	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers, o.NoScheduler = []string{"nodeipam"}, true })
	client := cp.Client
	ctx := t.Context()
	static := "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: kube-system}\n" +
		"spec:\n  containers:\n  - {name: web, image: busybox, imagePullPolicy: Never}\n"
	n := startFakeNode(t, cp, "kl-node", nil, map[string]string{"web.yaml": static}, nil)
	rt, dir := n.rt, n.dir
	eventually(t, 20*time.Second, "node Ready with a podCIDR and a CNI config", func() (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, "kl-node", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
		}
		_, cniErr := os.Stat(filepath.Join(dir, "net.d", "10-kubelab.conflist"))
		return ready && n.Spec.PodCIDR != "" && cniErr == nil && n.Labels["node-role.kubernetes.io/worker"] == "",
			fmt.Errorf("ready=%v podCIDR=%q cni=%v", ready, n.Spec.PodCIDR, cniErr)
	})

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p1", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "kl-node", Containers: []corev1.Container{
			{Name: "c", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, Command: []string{"sleep", "3600"}}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, client, "default", "p1", corev1.PodRunning)
	p, _ := client.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{})
	if p.Status.PodIP == "" || p.Status.HostIP != "127.0.0.1" || len(p.Status.ContainerStatuses) != 1 || !p.Status.ContainerStatuses[0].Ready {
		t.Errorf("status %+v", p.Status)
	}

	// The container exits: the relist notices, the pod restarts it.
	var id string
	for cid, c := range rt.Containers {
		if c.Metadata.Name == "c" {
			id = cid
		}
	}
	rt.Lock()
	rt.Containers[id].State = runtimeapi.ContainerState_CONTAINER_EXITED
	rt.Containers[id].ExitCode = 2
	rt.Containers[id].FinishedAt = time.Now().UnixNano()
	rt.Unlock()
	eventually(t, 10*time.Second, "restart after exit", func() (bool, error) {
		p, err := client.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false, err
		}
		cs := p.Status.ContainerStatuses[0]
		return cs.RestartCount == 1 && cs.State.Running != nil && cs.LastTerminationState.Terminated != nil &&
			cs.LastTerminationState.Terminated.ExitCode == 2, fmt.Errorf("%+v", cs)
	})

	// The static pod is mirrored and reports its status.
	eventually(t, 20*time.Second, "mirror pod Running", func() (bool, error) {
		m, err := client.CoreV1().Pods("kube-system").Get(ctx, "web-kl-node", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return pods.IsMirror(m) && m.Status.Phase == corev1.PodRunning && len(m.OwnerReferences) == 1, fmt.Errorf("phase %s", m.Status.Phase)
	})

	// Graceful deletion ends with the pod gone and its containers removed.
	if err := client.CoreV1().Pods("default").Delete(ctx, "p1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "pod p1 deleted", func() (bool, error) {
		_, err := client.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{})
		return err != nil, nil
	})
	eventually(t, 10*time.Second, "p1's containers removed", func() (bool, error) {
		rt.Lock()
		defer rt.Unlock()
		for _, c := range rt.Containers {
			if c.Labels["io.kubernetes.pod.name"] == "p1" {
				return false, fmt.Errorf("container %s left", c.Id)
			}
		}
		return true, nil
	})
}

func waitPhase(t *testing.T, client kubernetes.Interface, ns, name string, phase corev1.PodPhase) {
	t.Helper()
	eventually(t, 20*time.Second, fmt.Sprintf("pod %s %s", name, phase), func() (bool, error) {
		p, err := client.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Status.Phase == phase, fmt.Errorf("phase %s", p.Status.Phase)
	})
}
