package job

import (
	"fmt"
	_ "github.com/kubelab/kubelab/components/controllers/garbagecollector"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/nodeipam"
	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
	"github.com/kubelab/kubelab/components/kubelet/hollow"
	"github.com/kubelab/kubelab/components/scheduler"
)

// activeWatch records the most pods of each job active at once (not
// finished, not being deleted) as an informer sees them.
type activeWatch struct {
	mu     sync.Mutex
	active map[string]map[string]bool
	most   map[string]int
	pods   map[string]map[string]bool
}

func (w *activeWatch) observe(obj interface{}, gone bool) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	job := p.Labels[batchv1.JobNameLabel]
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.active[job] == nil {
		w.active[job], w.pods[job] = map[string]bool{}, map[string]bool{}
	}
	w.pods[job][p.Name] = true
	terminal := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	if gone || terminal || p.DeletionTimestamp != nil {
		delete(w.active[job], p.Name)
	} else {
		w.active[job][p.Name] = true
	}
	w.most[job] = max(w.most[job], len(w.active[job]))
}

func (w *activeWatch) stats(job string) (most, created int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.most[job], len(w.pods[job])
}

// startHollowCluster runs the scheduler, node IPAM, the job controller and
// n hollow nodes beside a control plane.
func startHollowCluster(t *testing.T, n int) (*testcontrolplane.ControlPlane, *activeWatch) {
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
	jm, err := New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	w := &activeWatch{active: map[string]map[string]bool{}, most: map[string]int{}, pods: map[string]map[string]bool{}}
	cc.Informers.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { w.observe(obj, false) },
		UpdateFunc: func(_, obj interface{}) { w.observe(obj, false) },
		DeleteFunc: func(obj interface{}) { w.observe(obj, true) },
	})
	cc.Informers.Start(ctx.Done())
	go ipam.Run(ctx, 1)
	go jm.Run(ctx, 2)
	sched, err := scheduler.New(cp.Config, scheduler.Options{Recorder: bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "default-scheduler"})})
	if err != nil {
		t.Fatal(err)
	}
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Run(ctx) }()
	t.Cleanup(func() { <-schedDone })
	nodes, err := hollow.New(cp.Config, hollow.Options{Count: n, RenewInterval: time.Second, StatusUpdateInterval: 5 * time.Second, KillDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- nodes.Run(ctx) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("hollow nodes: %v", err)
		}
	})
	select {
	case <-nodes.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("hollow nodes did not register")
	}
	return cp, w
}

// scripted makes the job's pods end with exit code after seconds on a
// hollow node.
func scripted(code int, seconds string) func(*batchv1.Job) {
	return func(j *batchv1.Job) {
		j.Spec.Template.Annotations = map[string]string{
			hollow.AnnotationExitCode: fmt.Sprint(code), hollow.AnnotationRunSeconds: seconds,
		}
	}
}

func TestHollowJobs(t *testing.T) {
	old := podFailureBackoff
	podFailureBackoff = 100 * time.Millisecond
	t.Cleanup(func() { podFailureBackoff = old })
	cp, watch := startHollowCluster(t, 2)
	ctx := t.Context()
	client := cp.Client
	for _, j := range []*batchv1.Job{
		jobSpec("steady", 5, 2, scripted(0, "0.2")),
		jobSpec("flaky", 5, 1, scripted(1, "0.1"), func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](2) }),
		jobSpec("indexed", 3, 3, scripted(0, "0.1"), func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) }),
	} {
		if _, err := client.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()

	t.Run("completions=5 parallelism=2 completes", func(t *testing.T) {
		j := waitJob(ctx, t, client, "steady", "completed", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobComplete, "") })
		if s := j.Status; s.Succeeded != 5 || s.Failed != 0 || s.Active != 0 || s.CompletionTime == nil {
			t.Errorf("status %+v", s)
		}
		most, created := watch.stats("steady")
		if most > 2 || created != 5 {
			t.Errorf("%d pods active at once (parallelism 2), %d created (5 completions)", most, created)
		}
		t.Logf("steady: complete after %v, %d pods, at most %d active", time.Since(start).Round(time.Millisecond), created, most)
	})

	t.Run("backoffLimit=2 fails after 3 pod failures", func(t *testing.T) {
		j := waitJob(ctx, t, client, "flaky", "failed", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobFailed, "") })
		if !hasCondition(j, batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded) || j.Status.Failed != 3 || j.Status.Succeeded != 0 {
			t.Errorf("status %+v", j.Status)
		}
		if _, created := watch.stats("flaky"); created != 3 {
			t.Errorf("%d pods created, want 3", created)
		}
	})

	t.Run("indexed job runs indexes 0..2", func(t *testing.T) {
		j := waitJob(ctx, t, client, "indexed", "completed", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobComplete, "") })
		if j.Status.CompletedIndexes != "0-2" || j.Status.Succeeded != 3 {
			t.Errorf("status %+v", j.Status)
		}
	})

	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, p := range pods.Items {
		if hasFinalizer(&p) {
			held = append(held, p.Name)
		}
	}
	if len(held) > 0 {
		t.Errorf("pods still holding the tracking finalizer: %v", held)
	}
}
