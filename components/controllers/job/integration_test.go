package job

import (
	"context"
	"fmt"
	_ "github.com/kubelab/kubelab/components/controllers/garbagecollector"
	"sort"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
)

func startController(t *testing.T, cp *testcontrolplane.ControlPlane) {
	t.Helper()
	cp.RunController(t, New, 2)
}

// fakeKubelet plays scheduler and kubelet for the test (until
// components/scheduler and hollow nodes exist): it binds pods to node-1,
// runs them for a moment, ends them with the exit code exit(pod) gives, and
// finishes graceful deletions. It records the most pods of a job active
// (not finished, not deleted) at once and every pod it saw.
type fakeKubelet struct {
	client kubernetes.Interface
	t      *testing.T
	exit   func(*corev1.Pod) int32

	mu        sync.Mutex
	started   map[string]bool
	active    map[string]map[string]bool // job -> pod -> active
	maxActive map[string]int
	seen      map[string]*corev1.Pod
}

func startFakeKubelet(t *testing.T, client kubernetes.Interface, exit func(*corev1.Pod) int32) *fakeKubelet {
	k := &fakeKubelet{client: client, t: t, exit: exit, started: map[string]bool{},
		active: map[string]map[string]bool{}, maxActive: map[string]int{}, seen: map[string]*corev1.Pod{}}
	factory := informers.NewSharedInformerFactory(client, 0)
	factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { k.handle(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj interface{}) { k.handle(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj interface{}) {
			if p, ok := obj.(*corev1.Pod); ok {
				k.record(p, false)
			}
		},
	})
	factory.Start(t.Context().Done())
	return k
}

func (k *fakeKubelet) record(p *corev1.Pod, active bool) {
	job := p.Labels[batchv1.JobNameLabel]
	k.mu.Lock()
	defer k.mu.Unlock()
	k.seen[p.Name] = p
	if k.active[job] == nil {
		k.active[job] = map[string]bool{}
	}
	if active {
		k.active[job][p.Name] = true
	} else {
		delete(k.active[job], p.Name)
	}
	k.maxActive[job] = max(k.maxActive[job], len(k.active[job]))
}

func (k *fakeKubelet) handle(p *corev1.Pod) {
	ctx := k.t.Context()
	pods := k.client.CoreV1().Pods(p.Namespace)
	terminal := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	k.record(p, !terminal && p.DeletionTimestamp == nil)
	switch {
	case p.DeletionTimestamp != nil:
		err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			k.t.Logf("fake kubelet: delete %s: %v", p.Name, err)
		}
	case p.Spec.NodeName == "":
		err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			k.t.Logf("fake scheduler: bind %s: %v", p.Name, err)
		}
	case p.Status.Phase == "" || p.Status.Phase == corev1.PodPending:
		k.mu.Lock()
		first := !k.started[p.Name]
		k.started[p.Name] = true
		k.mu.Unlock()
		if !first {
			return
		}
		now := metav1.Now()
		p = p.DeepCopy()
		p.Status.Phase, p.Status.StartTime = corev1.PodRunning, &now
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		running, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if err != nil {
			k.t.Logf("fake kubelet: run %s: %v", p.Name, err)
			return
		}
		time.AfterFunc(50*time.Millisecond, func() { k.finish(running) })
	}
}

// finish ends a running pod with its exit code (a negative code: the pod
// runs until deleted).
func (k *fakeKubelet) finish(p *corev1.Pod) {
	ctx := k.t.Context()
	code := k.exit(p)
	if code < 0 {
		return
	}
	now := metav1.Now()
	p = p.DeepCopy()
	p.Status.Phase = corev1.PodSucceeded
	if code != 0 {
		p.Status.Phase = corev1.PodFailed
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: now}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: now}}}}
	if _, err := k.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
		k.t.Logf("fake kubelet: finish %s: %v", p.Name, err)
	}
}

func (k *fakeKubelet) stats(job string) (maxActive int, pods []*corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.seen {
		if p.Labels[batchv1.JobNameLabel] == job {
			pods = append(pods, p)
		}
	}
	return k.maxActive[job], pods
}

func jobSpec(name string, completions, parallelism int32, mutate ...func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: batchv1.JobSpec{
		Completions: &completions, Parallelism: &parallelism,
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "work", Image: "busybox"}}}},
	}}
	for _, m := range mutate {
		m(j)
	}
	return j
}

// waitJob polls until cond holds for the job and returns it.
func waitJob(ctx context.Context, t *testing.T, client kubernetes.Interface, name, what string, cond func(*batchv1.Job) bool) *batchv1.Job {
	t.Helper()
	var last *batchv1.Job
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
		j, err := client.BatchV1().Jobs("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = j
		return cond(j), nil
	})
	if err != nil {
		t.Fatalf("job %s never %s; last status %+v", name, what, last.Status)
	}
	return last
}

func hasCondition(j *batchv1.Job, t batchv1.JobConditionType, reason string) bool {
	c := findCondition(j, t)
	return c != nil && c.Status == corev1.ConditionTrue && (reason == "" || c.Reason == reason)
}

func TestIntegrationJobs(t *testing.T) {
	old := podFailureBackoff
	podFailureBackoff = 50 * time.Millisecond
	t.Cleanup(func() { podFailureBackoff = old })

	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers = []string{"garbagecollector"} })
	ctx := t.Context()
	client := cp.Client
	startController(t, cp)
	kubelet := startFakeKubelet(t, client, func(p *corev1.Pod) int32 {
		switch p.Labels[batchv1.JobNameLabel] {
		case "flaky":
			return 1
		case "endless":
			return -1
		}
		return 0
	})
	create := func(j *batchv1.Job) {
		t.Helper()
		if _, err := client.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(jobSpec("steady", 5, 2))
	create(jobSpec("flaky", 5, 1, func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](2) }))
	create(jobSpec("indexed", 3, 3, func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) }))
	create(jobSpec("ttl", 1, 1, func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = ptr.To[int32](0) }))
	create(jobSpec("paused", 1, 1, func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }))
	create(jobSpec("endless", 2, 2))

	t.Run("completions=5 parallelism=2 completes", func(t *testing.T) {
		j := waitJob(ctx, t, client, "steady", "completed", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobComplete, "") })
		s := j.Status
		if s.Succeeded != 5 || s.Failed != 0 || s.Active != 0 || s.CompletionTime == nil || !hasCondition(j, batchv1.JobSuccessCriteriaMet, "CompletionsReached") {
			t.Errorf("status %+v", s)
		}
		maxActive, pods := kubelet.stats("steady")
		if maxActive > 2 {
			t.Errorf("%d pods active at once, parallelism 2", maxActive)
		}
		if len(pods) != 5 {
			t.Errorf("%d pods created for 5 completions", len(pods))
		}
		t.Logf("steady: %d pods, at most %d active", len(pods), maxActive)
	})

	t.Run("backoffLimit=2 fails after 3 failures", func(t *testing.T) {
		j := waitJob(ctx, t, client, "flaky", "failed", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobFailed, "") })
		if !hasCondition(j, batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded) || !hasCondition(j, batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded) {
			t.Errorf("conditions %+v", j.Status.Conditions)
		}
		if j.Status.Failed != 3 || j.Status.Succeeded != 0 || j.Status.Active != 0 {
			t.Errorf("status %+v", j.Status)
		}
		if _, pods := kubelet.stats("flaky"); len(pods) != 3 {
			t.Errorf("%d pods created, want 3 (backoffLimit 2)", len(pods))
		}
	})

	t.Run("indexed job gets indexes 0..2", func(t *testing.T) {
		j := waitJob(ctx, t, client, "indexed", "completed", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobComplete, "") })
		if j.Status.CompletedIndexes != "0-2" || j.Status.Succeeded != 3 {
			t.Errorf("status %+v", j.Status)
		}
		_, pods := kubelet.stats("indexed")
		var got []string
		for _, p := range pods {
			ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
			got = append(got, ix)
			if p.Spec.Hostname != "indexed-"+ix {
				t.Errorf("pod %s hostname %q", p.Name, p.Spec.Hostname)
			}
		}
		sort.Strings(got)
		if fmt.Sprint(got) != "[0 1 2]" {
			t.Errorf("indexes %v", got)
		}
	})

	t.Run("ttlSecondsAfterFinished deletes the job and its pods", func(t *testing.T) {
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := client.BatchV1().Jobs("default").Get(ctx, "ttl", metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				return false, nil
			}
			pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=ttl"})
			return err == nil && len(pods.Items) == 0, nil
		})
		if err != nil {
			t.Fatal("job with ttlSecondsAfterFinished=0 or its pods still there")
		}
	})

	t.Run("suspend and resume", func(t *testing.T) {
		j := waitJob(ctx, t, client, "paused", "suspended", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobSuspended, "JobSuspended") })
		if j.Status.StartTime != nil || j.Status.Active != 0 {
			t.Errorf("suspended job started: %+v", j.Status)
		}
		j.Spec.Suspend = ptr.To(false)
		if _, err := client.BatchV1().Jobs("default").Update(ctx, j, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		j = waitJob(ctx, t, client, "paused", "completed", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobComplete, "") })
		if c := findCondition(j, batchv1.JobSuspended); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "JobResumed" {
			t.Errorf("Suspended condition after resume: %+v", c)
		}
	})

	t.Run("deleting a running job releases its pods", func(t *testing.T) {
		waitJob(ctx, t, client, "endless", "running 2 ready pods", func(j *batchv1.Job) bool { return j.Status.Ready != nil && *j.Status.Ready == 2 })
		background := metav1.DeletePropagationBackground
		if err := client.BatchV1().Jobs("default").Delete(ctx, "endless", metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
			pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=endless"})
			return err == nil && len(pods.Items) == 0, nil
		})
		if err != nil {
			t.Fatal("pods of the deleted job remain (tracking finalizer not released?)")
		}
	})

	// No pod is left holding the tracking finalizer.
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if hasFinalizer(&p) {
			t.Errorf("pod %s still holds %s (phase %s)", p.Name, batchv1.JobTrackingFinalizer, p.Status.Phase)
		}
	}
}
