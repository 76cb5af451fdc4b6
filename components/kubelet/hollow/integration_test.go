package hollow_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/nodeipam"
	"github.com/kubelab/kubelab/components/controllers/nodelifecycle"
	"github.com/kubelab/kubelab/components/controllers/podgc"
	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
	"github.com/kubelab/kubelab/components/kubelet/hollow"
)

// cluster is a control plane with node IPAM, node lifecycle and pod GC
// running in-process, and hollow nodes.
type cluster struct {
	cp    *testcontrolplane.ControlPlane
	nodes *hollow.Nodes
}

// startCluster starts the control plane, the three node controllers with
// short periods, and n hollow nodes with fast heartbeats.
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers, o.NoScheduler = []string{}, true })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cp.Client.CoreV1().Events("")})
	t.Cleanup(broadcaster.Shutdown)
	opts := controllers.DefaultOptions()
	opts.NodeMonitorGracePeriod = 4 * time.Second
	opts.NodeMonitorPeriod = 500 * time.Millisecond
	cc := &controllers.Context{
		Config: cp.Config, Client: cp.Client,
		Informers: informers.NewSharedInformerFactory(cp.Client, 0),
		Recorder: func(component string) record.EventRecorder {
			return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
		},
		Options: opts,
	}
	ipam, err := nodeipam.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	lifecycle, err := nodelifecycle.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := podgc.NewWithOptions(ctx, cc, podgc.Options{Period: 500 * time.Millisecond, Quarantine: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cc.Informers.Start(ctx.Done())
	for _, c := range []controllers.Controller{ipam, lifecycle, gc} {
		go c.Run(ctx, 2)
	}

	nodes, err := hollow.New(cp.Config, hollow.Options{
		Count: n, RenewInterval: 500 * time.Millisecond, StatusUpdateInterval: 5 * time.Second,
		BackoffBase: time.Second, BackoffMax: 4 * time.Second, KillDelay: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- nodes.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hollow nodes: %v", err)
		}
	})
	select {
	case <-nodes.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("hollow nodes did not register within 30s")
	}
	return &cluster{cp: cp, nodes: nodes}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v (last error: %v)", what, timeout, lastErr)
}

// newPod creates a pod and binds it to node through pods/binding.
func newPod(t *testing.T, c kubernetes.Interface, name, node string, policy corev1.RestartPolicy, annotations map[string]string, tolerations ...corev1.Toleration) *corev1.Pod {
	t.Helper()
	ctx := t.Context()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: annotations},
		Spec: corev1.PodSpec{
			RestartPolicy:  policy,
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1.36"}},
			Containers:     []corev1.Container{{Name: "main", Image: "nginx:1.27"}, {Name: "side", Image: "busybox:1.36"}},
			Tolerations:    tolerations,
		},
	}
	if _, err := c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: name}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
	if err := c.CoreV1().Pods("default").Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind pod %s: %v", name, err)
	}
	return pod
}

func getPod(t *testing.T, c kubernetes.Interface, name string) (*corev1.Pod, error) {
	return c.CoreV1().Pods("default").Get(t.Context(), name, metav1.GetOptions{})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func nodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func TestHollowNodesRegisterAndRunPods(t *testing.T) {
	c := startCluster(t, 20)
	client := c.cp.Client
	ctx := t.Context()

	eventually(t, 20*time.Second, "20 nodes Ready with podCIDRs", func() (bool, error) {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 20 {
			return false, err
		}
		for _, n := range list.Items {
			if nodeReady(&n) != corev1.ConditionTrue || n.Spec.PodCIDR == "" {
				return false, fmt.Errorf("node %s: ready=%s podCIDR=%q", n.Name, nodeReady(&n), n.Spec.PodCIDR)
			}
		}
		return true, nil
	})
	node, err := client.CoreV1().Nodes().Get(ctx, "hollow-node-3", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Labels[hollow.LabelHollow] != "true" || node.Labels[corev1.LabelHostname] != node.Name || node.Labels[corev1.LabelOSStable] != "linux" {
		t.Errorf("labels = %v", node.Labels)
	}
	if cond := node.Status.Conditions[len(node.Status.Conditions)-1]; cond.Reason != "KubeletReady" {
		t.Errorf("ready condition = %+v", cond)
	}
	if node.Status.Allocatable.Pods().Value() != 110 || node.Status.Capacity.Cpu().Value() != 4 {
		t.Errorf("allocatable = %v", node.Status.Allocatable)
	}
	lease, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("node lease: %v", err)
	}
	if refs := lease.OwnerReferences; len(refs) != 1 || refs[0].UID != node.UID || refs[0].Kind != "Node" {
		t.Errorf("lease owner references = %v", refs)
	}
	if lease.Spec.RenewTime == nil || time.Since(lease.Spec.RenewTime.Time) > 5*time.Second {
		t.Errorf("lease renew time = %v", lease.Spec.RenewTime)
	}

	t.Run("running and ready with an IP from the podCIDR", func(t *testing.T) {
		newPod(t, client, "web", node.Name, corev1.RestartPolicyAlways, nil)
		var pod *corev1.Pod
		eventually(t, 10*time.Second, "pod web Running and Ready", func() (bool, error) {
			p, err := getPod(t, client, "web")
			pod = p
			return err == nil && p.Status.Phase == corev1.PodRunning && podReady(p), err
		})
		cidr := netip.MustParsePrefix(node.Spec.PodCIDR)
		ip, err := netip.ParseAddr(pod.Status.PodIP)
		if err != nil || !cidr.Contains(ip) || len(pod.Status.PodIPs) != 1 {
			t.Errorf("podIP %q not in podCIDR %s", pod.Status.PodIP, cidr)
		}
		if pod.Status.HostIP != node.Status.Addresses[0].Address {
			t.Errorf("hostIP = %q, want %q", pod.Status.HostIP, node.Status.Addresses[0].Address)
		}
		if len(pod.Status.ContainerStatuses) != 2 || len(pod.Status.InitContainerStatuses) != 1 {
			t.Fatalf("container statuses: %+v", pod.Status)
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if !cs.Ready || cs.Started == nil || !*cs.Started || cs.State.Running == nil || cs.ContainerID == "" || cs.ImageID == "" {
				t.Errorf("container status %+v", cs)
			}
		}
		if ic := pod.Status.InitContainerStatuses[0]; ic.State.Terminated == nil || ic.State.Terminated.Reason != "Completed" {
			t.Errorf("init container status %+v", ic)
		}
	})

	t.Run("exit on cue", func(t *testing.T) {
		cue := func(code, secs string) map[string]string {
			return map[string]string{hollow.AnnotationExitCode: code, hollow.AnnotationRunSeconds: secs}
		}
		newPod(t, client, "ok", "hollow-node-4", corev1.RestartPolicyNever, cue("0", "1"))
		newPod(t, client, "fail", "hollow-node-5", corev1.RestartPolicyNever, cue("3", "1"))
		newPod(t, client, "crash", "hollow-node-6", corev1.RestartPolicyAlways, cue("1", "0.5"))
		newPod(t, client, "retry-ok", "hollow-node-7", corev1.RestartPolicyOnFailure, cue("0", "0.5"))
		for name, want := range map[string]corev1.PodPhase{"ok": corev1.PodSucceeded, "fail": corev1.PodFailed, "retry-ok": corev1.PodSucceeded} {
			eventually(t, 10*time.Second, "pod "+name+" "+string(want), func() (bool, error) {
				p, err := getPod(t, client, name)
				return err == nil && p.Status.Phase == want, err
			})
		}
		p, _ := getPod(t, client, "fail")
		for _, cs := range p.Status.ContainerStatuses {
			if term := cs.State.Terminated; term == nil || term.ExitCode != 3 || term.Reason != "Error" {
				t.Errorf("failed container state %+v", cs.State)
			}
		}
		if podReady(p) {
			t.Error("failed pod is Ready")
		}
		eventually(t, 15*time.Second, "pod crash in CrashLoopBackOff after a restart", func() (bool, error) {
			p, err := getPod(t, client, "crash")
			if err != nil || len(p.Status.ContainerStatuses) == 0 {
				return false, err
			}
			cs := p.Status.ContainerStatuses[0]
			w := cs.State.Waiting
			return p.Status.Phase == corev1.PodRunning && w != nil && w.Reason == "CrashLoopBackOff" &&
				cs.RestartCount >= 1 && cs.LastTerminationState.Terminated != nil &&
				cs.LastTerminationState.Terminated.ExitCode == 1, fmt.Errorf("status %+v", cs)
		})
	})

	t.Run("readiness delayed by annotation", func(t *testing.T) {
		newPod(t, client, "slow", "hollow-node-8", corev1.RestartPolicyAlways, map[string]string{hollow.AnnotationReadyAfterSeconds: "2"})
		eventually(t, 10*time.Second, "pod slow Running but not Ready", func() (bool, error) {
			p, err := getPod(t, client, "slow")
			return err == nil && p.Status.Phase == corev1.PodRunning && !podReady(p), err
		})
		eventually(t, 10*time.Second, "pod slow Ready", func() (bool, error) {
			p, err := getPod(t, client, "slow")
			return err == nil && podReady(p), err
		})
	})

	t.Run("graceful deletion", func(t *testing.T) {
		newPod(t, client, "doomed", "hollow-node-9", corev1.RestartPolicyAlways, nil)
		eventually(t, 10*time.Second, "pod doomed Running", func() (bool, error) {
			p, err := getPod(t, client, "doomed")
			return err == nil && p.Status.Phase == corev1.PodRunning, err
		})
		if err := client.CoreV1().Pods("default").Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "pod doomed gone", func() (bool, error) {
			_, err := getPod(t, client, "doomed")
			return apierrors.IsNotFound(err), err
		})
	})
}

func hasTaint(n *corev1.Node, key string, effect corev1.TaintEffect) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

func TestNodeLossEvictionAndPodGC(t *testing.T) {
	c := startCluster(t, 3)
	client := c.cp.Client
	ctx := t.Context()
	lost, healthy := "hollow-node-1", "hollow-node-2"
	short := int64(2)
	newPod(t, client, "victim", lost, corev1.RestartPolicyAlways, nil,
		corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &short},
		corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &short})
	newPod(t, client, "stayer", lost, corev1.RestartPolicyAlways, nil,
		corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	newPod(t, client, "bystander", healthy, corev1.RestartPolicyAlways, nil)
	for _, name := range []string{"victim", "stayer", "bystander"} {
		eventually(t, 10*time.Second, name+" Ready", func() (bool, error) {
			p, err := getPod(t, client, name)
			return err == nil && podReady(p), err
		})
	}

	if !c.nodes.Stop(lost) {
		t.Fatal("Stop: unknown node")
	}
	eventually(t, 15*time.Second, "lost node Unknown with the unreachable NoExecute taint", func() (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, lost, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && (cond.Reason != "NodeStatusUnknown" || cond.Message != "Kubelet stopped posting node status.") {
				return false, fmt.Errorf("ready condition %+v", cond)
			}
		}
		return nodeReady(n) == corev1.ConditionUnknown && hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute), fmt.Errorf("taints %v", n.Spec.Taints)
	})
	eventually(t, 10*time.Second, "victim evicted after its 2s toleration", func() (bool, error) {
		p, err := getPod(t, client, "victim")
		return err == nil && p.DeletionTimestamp != nil, err
	})
	eventually(t, 10*time.Second, "stayer marked not ready but kept", func() (bool, error) {
		p, err := getPod(t, client, "stayer")
		return err == nil && !podReady(p) && p.DeletionTimestamp == nil, err
	})
	if n, err := client.CoreV1().Nodes().Get(ctx, healthy, metav1.GetOptions{}); err != nil || nodeReady(n) != corev1.ConditionTrue || len(n.Spec.Taints) != 0 {
		t.Fatalf("healthy node affected: %v %v", err, n)
	}
	if p, err := getPod(t, client, "bystander"); err != nil || !podReady(p) {
		t.Fatalf("bystander affected: %v", err)
	}

	// The kubelet comes back: the node is Ready and untainted, the evicted
	// pod is finished off and the other one is Ready again.
	c.nodes.Resume(lost)
	eventually(t, 10*time.Second, "resumed node Ready without taints", func() (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, lost, metav1.GetOptions{})
		return err == nil && nodeReady(n) == corev1.ConditionTrue && len(n.Spec.Taints) == 0, err
	})
	eventually(t, 10*time.Second, "victim deleted by its kubelet", func() (bool, error) {
		_, err := getPod(t, client, "victim")
		return apierrors.IsNotFound(err), err
	})
	eventually(t, 10*time.Second, "stayer Ready again", func() (bool, error) {
		p, err := getPod(t, client, "stayer")
		return err == nil && podReady(p), err
	})

	// The node is lost for good and deleted: pod GC removes its pods.
	c.nodes.Stop(lost)
	if err := client.CoreV1().Nodes().Delete(ctx, lost, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "stayer removed by pod GC", func() (bool, error) {
		_, err := getPod(t, client, "stayer")
		return apierrors.IsNotFound(err), err
	})
	if p, err := getPod(t, client, "bystander"); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("bystander affected: %v", err)
	}
}
