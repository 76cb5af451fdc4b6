package daemonset

import (
	"context"
	"fmt"
	_ "github.com/kubelab/kubelab/components/controllers/garbagecollector"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/nodeipam"
	"github.com/kubelab/kubelab/components/controllers/podgc"
	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
	"github.com/kubelab/kubelab/components/kubelet/hollow"
	"github.com/kubelab/kubelab/components/scheduler"
)

// startHollowCluster runs, beside a control plane, what daemon pods need:
// the scheduler, node IPAM (hollow pods get IPs from podCIDRs), pod GC
// (pods of deleted nodes) and the DaemonSet controller, plus n hollow
// nodes labelled role=worker.
func startHollowCluster(t *testing.T, n int) *testcontrolplane.ControlPlane {
	t.Helper()
	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers = []string{"garbagecollector"} })
	ctx := t.Context()
	bc := record.NewBroadcaster(record.WithContext(ctx))
	bc.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cp.Client.CoreV1().Events("")})
	t.Cleanup(bc.Shutdown)
	cc := &controllers.Context{Config: cp.Config, Client: cp.Client, Options: controllers.DefaultOptions(),
		Informers: informers.NewSharedInformerFactory(cp.Client, 0),
		Recorder: func(component string) record.EventRecorder {
			return bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
		}}
	ipam, err := nodeipam.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := podgc.NewWithOptions(ctx, cc, podgc.Options{Period: 300 * time.Millisecond, Quarantine: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dsc, err := New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	cc.Informers.Start(ctx.Done())
	for _, c := range []controllers.Controller{ipam, gc, dsc} {
		go c.Run(ctx, 2)
	}
	sched, err := scheduler.New(cp.Config, scheduler.Options{Recorder: bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "default-scheduler"})})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	t.Cleanup(func() { <-done })
	startHollowNodes(t, ctx, cp, "hollow-node-", n)
	return cp
}

// startHollowNodes runs n hollow nodes until ctx ends.
func startHollowNodes(t *testing.T, ctx context.Context, cp *testcontrolplane.ControlPlane, prefix string, n int) {
	t.Helper()
	nodes, err := hollow.New(cp.Config, hollow.Options{Count: n, NamePrefix: prefix, Labels: map[string]string{"role": "worker"},
		RenewInterval: time.Second, StatusUpdateInterval: 5 * time.Second, KillDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- nodes.Run(ctx) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("hollow nodes %s: %v", prefix, err)
		}
	})
	select {
	case <-nodes.Ready():
	case <-time.After(30 * time.Second):
		t.Fatalf("hollow nodes %s did not register", prefix)
	}
}

// runningPods returns "node=image" of the daemon set's pods that run ready.
func runningPods(ctx context.Context, cp *testcontrolplane.ControlPlane) ([]string, error) {
	list, err := cp.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range list.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		if p.DeletionTimestamp == nil && ready {
			out = append(out, p.Spec.NodeName+"="+p.Spec.Containers[0].Image)
		}
	}
	return out, nil
}

func TestHollowDaemonSetFollowsNodes(t *testing.T) {
	cp := startHollowCluster(t, 3)
	ctx := t.Context()
	client := cp.Client
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{"role": "worker"},
				Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
		},
	}}
	if _, err := client.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect := func(what string, want ...string) {
		t.Helper()
		start := time.Now()
		waitFor(ctx, t, what, func(ctx context.Context) (bool, string) {
			got, err := runningPods(ctx, cp)
			if err != nil {
				return false, err.Error()
			}
			return fmt.Sprint(sortedStrings(got)) == fmt.Sprint(sortedStrings(want)), fmt.Sprint(got)
		})
		t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
	}
	expect("one ready pod per hollow node", "hollow-node-0=agent:1", "hollow-node-1=agent:1", "hollow-node-2=agent:1")
	waitStatus(ctx, t, client, 3, 3, 3)

	extraCtx, stopExtra := context.WithCancel(ctx)
	startHollowNodes(t, extraCtx, cp, "extra-node-", 1)
	expect("a pod on the added node", "hollow-node-0=agent:1", "hollow-node-1=agent:1", "hollow-node-2=agent:1", "extra-node-0=agent:1")
	waitStatus(ctx, t, client, 4, 4, 4)

	n, err := client.CoreV1().Nodes().Get(ctx, "hollow-node-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(n.Labels, "role")
	if _, err := client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("no pod on the node made ineligible", "hollow-node-0=agent:1", "hollow-node-1=agent:1", "extra-node-0=agent:1")

	// The added node's kubelet stops and the node is deleted: pod GC
	// removes its pod, the daemon set no longer counts it.
	stopExtra()
	if err := client.CoreV1().Nodes().Delete(ctx, "extra-node-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("no pod on the deleted node", "hollow-node-0=agent:1", "hollow-node-1=agent:1")
	waitStatus(ctx, t, client, 2, 2, 2)

	cur, err := client.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Template.Spec.Containers[0].Image = "agent:2"
	if _, err := client.AppsV1().DaemonSets("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("rolled out", "hollow-node-0=agent:2", "hollow-node-1=agent:2")
	waitStatus(ctx, t, client, 2, 2, 2)
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
