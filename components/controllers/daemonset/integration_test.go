package daemonset

import (
	"context"
	"fmt"
	_ "github.com/kubelab/kubelab/components/controllers/garbagecollector"
	"sort"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
)

func startController(t *testing.T, cp *testcontrolplane.ControlPlane) {
	t.Helper()
	cp.RunController(t, New, 2)
}

// fakeNodes plays scheduler and kubelets for the test (until
// components/scheduler and hollow nodes exist): it binds unbound pods to
// the node their affinity pins, marks bound pods Running and Ready, and
// finishes graceful deletions. It also records, once watching is on, the
// most nodes seen at one instant without a ready pod of the daemon set.
type fakeNodes struct {
	client kubernetes.Interface
	t      *testing.T

	mu          sync.Mutex
	ready       map[string]map[string]bool // node -> pod -> ready
	watching    bool
	nodes       []string
	maxNotReady int
}

func startFakeNodes(t *testing.T, client kubernetes.Interface) *fakeNodes {
	f := &fakeNodes{client: client, t: t, ready: map[string]map[string]bool{}}
	factory := informers.NewSharedInformerFactory(client, 0)
	inf := factory.Core().V1().Pods().Informer()
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { f.handle(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj interface{}) { f.handle(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj interface{}) {
			if p, ok := obj.(*corev1.Pod); ok {
				f.record(p, true)
			}
		},
	})
	factory.Start(t.Context().Done())
	return f
}

func (f *fakeNodes) handle(p *corev1.Pod) {
	ctx := f.t.Context()
	pods := f.client.CoreV1().Pods(p.Namespace)
	f.record(p, false)
	switch {
	case p.DeletionTimestamp != nil:
		err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			f.t.Logf("fake kubelet: delete %s: %v", p.Name, err)
		}
	case p.Spec.NodeName == "":
		node := targetNode(p)
		if _, err := f.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil {
			return // the scheduler would find no node
		}
		err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			f.t.Logf("fake scheduler: bind %s: %v", p.Name, err)
		}
	case p.Status.Phase == "" || p.Status.Phase == corev1.PodPending:
		now := metav1.Now()
		p = p.DeepCopy()
		p.Status.Phase, p.Status.StartTime = corev1.PodRunning, &now
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			f.t.Logf("fake kubelet: status of %s: %v", p.Name, err)
		}
	}
}

// record tracks readiness per node and, while watching, the most nodes
// without a ready pod.
func (f *fakeNodes) record(p *corev1.Pod, gone bool) {
	node := p.Spec.NodeName
	if node == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ready[node] == nil {
		f.ready[node] = map[string]bool{}
	}
	if gone {
		delete(f.ready[node], p.Name)
	} else {
		ready := p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning
		f.ready[node][p.Name] = ready
	}
	if !f.watching {
		return
	}
	notReady := 0
	for _, n := range f.nodes {
		any := false
		for _, r := range f.ready[n] {
			any = any || r
		}
		if !any {
			notReady++
		}
	}
	f.maxNotReady = max(f.maxNotReady, notReady)
}

func (f *fakeNodes) watch(nodes ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watching, f.nodes, f.maxNotReady = true, nodes, 0
}

func (f *fakeNodes) stopWatching() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watching = false
	return f.maxNotReady
}

func createNode(ctx context.Context, t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"role": "worker", corev1.LabelHostname: name}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	if _, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// daemonPods returns "node=image" for the live daemon pods, sorted.
func daemonPods(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	list, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, targetNode(&p)+"="+p.Spec.Containers[0].Image)
		}
	}
	sort.Strings(out)
	return out, nil
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		ok, state := cond(ctx)
		last = state
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not reached; last %s", what, last)
	}
}

func waitPods(ctx context.Context, t *testing.T, client kubernetes.Interface, want ...string) {
	t.Helper()
	sort.Strings(want)
	waitFor(ctx, t, fmt.Sprintf("daemon pods %v", want), func(ctx context.Context) (bool, string) {
		got, err := daemonPods(ctx, client)
		return err == nil && fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprint(got, err)
	})
}

func waitStatus(ctx context.Context, t *testing.T, client kubernetes.Interface, desired, ready, updated int32) {
	t.Helper()
	waitFor(ctx, t, fmt.Sprintf("status desired=%d ready=%d updated=%d", desired, ready, updated), func(ctx context.Context) (bool, string) {
		ds, err := client.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s := ds.Status
		return s.ObservedGeneration == ds.Generation && s.DesiredNumberScheduled == desired && s.CurrentNumberScheduled == desired &&
			s.NumberReady == ready && s.NumberAvailable == ready && s.UpdatedNumberScheduled == updated &&
			s.NumberUnavailable == desired-ready && s.NumberMisscheduled == 0, fmt.Sprintf("%+v", s)
	})
}

func TestIntegrationDaemonSetFollowsNodes(t *testing.T) {
	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers = []string{"garbagecollector"} })
	ctx := t.Context()
	client := cp.Client
	for _, n := range []string{"n1", "n2", "n3"} {
		createNode(ctx, t, client, n)
	}
	startController(t, cp)
	agents := startFakeNodes(t, client)

	one := intstr.FromInt32(1)
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{"role": "worker"},
				Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
		},
		UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one}},
	}}
	if _, err := client.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(ctx, t, client, "n1=agent:1", "n2=agent:1", "n3=agent:1")
	waitStatus(ctx, t, client, 3, 3, 3)

	// Rolling update: never more than maxUnavailable=1 node without a ready pod.
	agents.watch("n1", "n2", "n3")
	cur, err := client.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Template.Spec.Containers[0].Image = "agent:2"
	if _, err := client.AppsV1().DaemonSets("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(ctx, t, client, "n1=agent:2", "n2=agent:2", "n3=agent:2")
	waitStatus(ctx, t, client, 3, 3, 3)
	if worst := agents.stopWatching(); worst > 1 {
		t.Errorf("rolling update left %d nodes without a ready pod at once (maxUnavailable 1)", worst)
	}

	// A new node gets a pod.
	createNode(ctx, t, client, "n4")
	waitPods(ctx, t, client, "n1=agent:2", "n2=agent:2", "n3=agent:2", "n4=agent:2")
	waitStatus(ctx, t, client, 4, 4, 4)

	// A node that no longer matches the nodeSelector loses its pod.
	n3, err := client.CoreV1().Nodes().Get(ctx, "n3", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(n3.Labels, "role")
	if _, err := client.CoreV1().Nodes().Update(ctx, n3, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(ctx, t, client, "n1=agent:2", "n2=agent:2", "n4=agent:2")
	waitStatus(ctx, t, client, 3, 3, 3)

	// A NoExecute taint the pods do not tolerate evicts; NoSchedule does not.
	n2, err := client.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n2.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	if n2, err = client.CoreV1().Nodes().Update(ctx, n2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "status with n2 not desired", func(ctx context.Context) (bool, string) {
		ds, err := client.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
		return err == nil && ds.Status.DesiredNumberScheduled == 2 && ds.Status.NumberMisscheduled == 1, fmt.Sprintf("%+v", ds.Status)
	})
	waitPods(ctx, t, client, "n1=agent:2", "n2=agent:2", "n4=agent:2")
	n2.Spec.Taints[0].Effect = corev1.TaintEffectNoExecute
	if _, err := client.CoreV1().Nodes().Update(ctx, n2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(ctx, t, client, "n1=agent:2", "n4=agent:2")
	waitStatus(ctx, t, client, 2, 2, 2)

	// A deleted node: nothing new is created; its bound pod is the pod GC's
	// (played here) and the status drops it.
	if err := client.CoreV1().Nodes().Delete(ctx, "n4", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(ctx, t, client, 1, 1, 1)
	list, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		if p.Spec.NodeName == "n4" {
			if err := client.CoreV1().Pods("default").Delete(ctx, p.Name, *metav1.NewDeleteOptions(0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitPods(ctx, t, client, "n1=agent:2")
	waitStatus(ctx, t, client, 1, 1, 1)
}
