// Package workloadtest starts what the workload controllers' integration
// tests run against: a real in-process control plane (no controllers of
// its own), hollow nodes with node IPAM so bound pods get an IP and go
// Running and Ready, a binder standing in for the scheduler (every
// unbound pod is bound to a node, round robin), and the controllers under
// test.
package workloadtest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/nodeipam"
	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
	"github.com/kubelab/kubelab/components/kubelet/hollow"
)

// Cluster is a running test cluster.
type Cluster struct {
	CP     *testcontrolplane.ControlPlane
	Client kubernetes.Interface
	Nodes  *hollow.Nodes
}

// Start starts a control plane, nodes hollow nodes (with fast heartbeats
// and a short kill delay), node IPAM, the binder, and the controllers
// built by inits; everything stops when the test ends.
func Start(t *testing.T, nodes int, inits ...controllers.InitFunc) *Cluster {
	t.Helper()
	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers = []string{} })
	ctx, cancel := context.WithCancel(context.Background())

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cp.Client.CoreV1().Events("")})
	cc := &controllers.Context{
		Config: cp.Config, Client: cp.Client,
		Informers: informers.NewSharedInformerFactory(cp.Client, 0),
		Recorder: func(component string) record.EventRecorder {
			return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
		},
		Options: controllers.DefaultOptions(),
	}
	var running []controllers.Controller
	for _, init := range append([]controllers.InitFunc{nodeipam.New}, inits...) {
		ctl, err := init(ctx, cc)
		if err != nil {
			cancel()
			t.Fatalf("build controller: %v", err)
		}
		running = append(running, ctl)
	}
	h, err := hollow.New(cp.Config, hollow.Options{
		Count: nodes, RenewInterval: time.Second, StatusUpdateInterval: 10 * time.Second,
		KillDelay: 50 * time.Millisecond,
	})
	if err != nil {
		cancel()
		t.Fatalf("hollow nodes: %v", err)
	}
	b := newBinder(cp.Client, cc.Informers)
	cc.Informers.Start(ctx.Done())
	done := make(chan struct{})
	var n atomic.Int32
	finish := func() {
		if n.Add(-1) == 0 {
			close(done)
		}
	}
	n.Add(int32(len(running) + 2))
	for _, ctl := range running {
		go func() {
			defer finish()
			ctl.Run(ctx, 2)
		}()
	}
	go func() {
		defer finish()
		if err := h.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("hollow nodes: %v", err)
		}
	}()
	go func() {
		defer finish()
		b.run(ctx, h.Names())
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("controllers did not stop within 30s")
		}
		broadcaster.Shutdown()
		cc.Informers.Shutdown()
	})
	select {
	case <-h.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("hollow nodes did not register within 30s")
	}
	return &Cluster{CP: cp, Client: cp.Client, Nodes: h}
}

// binder binds every pending unbound pod to a node, round robin.
type binder struct {
	client kubernetes.Interface
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

func newBinder(client kubernetes.Interface, f informers.SharedInformerFactory) *binder {
	b := &binder{client: client, queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
	inf := f.Core().V1().Pods().Informer()
	b.synced = inf.HasSynced
	add := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
			b.queue.Add(p.Namespace + "/" + p.Name)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, cur any) { add(cur) }})
	return b
}

func (b *binder) run(ctx context.Context, nodes []string) {
	go func() {
		<-ctx.Done()
		b.queue.ShutDown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), b.synced) || len(nodes) == 0 {
		return
	}
	next := 0
	for {
		key, quit := b.queue.Get()
		if quit {
			return
		}
		ns, name, _ := cache.SplitMetaNamespaceKey(key)
		node := nodes[next%len(nodes)]
		next++
		err := b.client.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
			b.queue.AddRateLimited(key)
		} else {
			b.queue.Forget(key)
		}
		b.queue.Done(key)
	}
}

// Eventually polls cond every 50ms until it holds, failing the test after
// timeout with what and the last error.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last error: %v)", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PodReady reports whether p's Ready condition is true.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Namespace creates a namespace for one test.
func Namespace(t testing.TB, client kubernetes.Interface, name string) string {
	t.Helper()
	if _, err := client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}
