package job

import (
	"context"
	"fmt"
	"github.com/kubelab/kubelab/components/controllers/controllertest"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func newTestController(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	ctrl, client, _ := controllertest.New(t, New, objs...)
	controllertest.NameGenerated(client, "pods", true)
	return ctrl.(*Controller), client
}

func newJob(mutate ...func(*batchv1.Job)) *batchv1.Job {
	nonIndexed := batchv1.NonIndexedCompletion
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "work", Namespace: "ns", UID: "job-uid"},
		Spec: batchv1.JobSpec{
			Completions: ptr.To[int32](5), Parallelism: ptr.To[int32](2), BackoffLimit: ptr.To[int32](6),
			CompletionMode: &nonIndexed, Suspend: ptr.To(false),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "job-uid"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{batchv1.ControllerUidLabel: "job-uid", batchv1.JobNameLabel: "work"}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	for _, m := range mutate {
		m(j)
	}
	return j
}

func indexed(j *batchv1.Job) {
	m := batchv1.IndexedCompletion
	j.Spec.CompletionMode = &m
}

// jobPod is a pod of job in phase, holding the tracking finalizer.
func jobPod(j *batchv1.Job, name string, phase corev1.PodPhase, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := podFromTemplate(j, &j.Spec.Template)
	p.Name, p.UID, p.GenerateName = name, types.UID(name), ""
	p.Finalizers = []string{batchv1.JobTrackingFinalizer}
	p.Spec.NodeName = "node-1"
	p.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Minute))
	p.Status.Phase = phase
	if phase == corev1.PodFailed || phase == corev1.PodSucceeded {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(time.Now().Add(-time.Hour))}}}}
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func withIndex(ix int) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(ix)}
	}
}

type result struct {
	job     *batchv1.Job
	created []*corev1.Pod
	deleted []string
	// unfinalized are the pods whose tracking finalizer was patched away.
	unfinalized []string
}

func syncOnce(t *testing.T, objs ...runtime.Object) (*Controller, result) {
	t.Helper()
	jm, client := newTestController(t, objs...)
	if err := jm.sync(context.Background(), "ns/work"); err != nil {
		t.Fatal(err)
	}
	var r result
	for _, a := range client.Actions() {
		switch a := a.(type) {
		case clienttesting.CreateAction:
			if p, ok := a.GetObject().(*corev1.Pod); ok {
				r.created = append(r.created, p)
			}
		case clienttesting.DeleteAction:
			r.deleted = append(r.deleted, a.GetResource().Resource+"/"+a.GetName())
		case clienttesting.PatchAction:
			if strings.Contains(string(a.GetPatch()), "deleteFromPrimitiveList") {
				r.unfinalized = append(r.unfinalized, a.GetName())
			}
		}
	}
	sort.Strings(r.deleted)
	sort.Strings(r.unfinalized)
	job, err := client.BatchV1().Jobs("ns").Get(context.Background(), "work", metav1.GetOptions{})
	if err == nil {
		r.job = job
	}
	return jm, r
}

func condition(j *batchv1.Job, t batchv1.JobConditionType) string {
	if c := findCondition(j, t); c != nil {
		return fmt.Sprintf("%s/%s", c.Status, c.Reason)
	}
	return ""
}

func TestSyncCreatesPods(t *testing.T) {
	_, r := syncOnce(t, newJob())
	if len(r.created) != 2 {
		t.Fatalf("created %d pods, want parallelism 2", len(r.created))
	}
	for _, p := range r.created {
		if !hasFinalizer(p) || metav1.GetControllerOf(p) == nil || metav1.GetControllerOf(p).UID != "job-uid" || p.Labels[batchv1.JobNameLabel] != "work" {
			t.Errorf("pod %s: finalizers %v owner %v labels %v", p.Name, p.Finalizers, p.OwnerReferences, p.Labels)
		}
	}
	if r.job.Status.Active != 2 || r.job.Status.StartTime == nil || r.job.Status.UncountedTerminatedPods == nil {
		t.Errorf("status %+v", r.job.Status)
	}
}

func TestSyncIndexed(t *testing.T) {
	j := newJob(indexed, func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](4), ptr.To[int32](3) })
	_, r := syncOnce(t, j, jobPod(j, "done-1", corev1.PodSucceeded, withIndex(1)))
	var got []string
	for _, p := range r.created {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		got = append(got, ix)
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix || p.Spec.Hostname != "work-"+ix || !strings.HasPrefix(p.GenerateName, "work-"+ix+"-") {
			t.Errorf("pod of index %s: labels %v hostname %q generateName %q", ix, p.Labels, p.Spec.Hostname, p.GenerateName)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom.FieldRef == nil {
			t.Errorf("env %+v", env)
		}
	}
	sort.Strings(got)
	if fmt.Sprint(got) != "[0 2 3]" {
		t.Fatalf("created indexes %v, want [0 2 3] (1 succeeded)", got)
	}
	if r.job.Status.CompletedIndexes != "1" || r.job.Status.Succeeded != 1 || fmt.Sprint(r.unfinalized) != "[done-1]" {
		t.Errorf("completedIndexes %q succeeded %d unfinalized %v", r.job.Status.CompletedIndexes, r.job.Status.Succeeded, r.unfinalized)
	}
}

func TestSyncCounting(t *testing.T) {
	j := newJob()
	unfinalized := func(p *corev1.Pod) { p.Finalizers = nil }
	for _, tc := range []struct {
		name        string
		job         *batchv1.Job
		pods        []runtime.Object
		succeeded   int32
		failed      int32
		active      int32
		creates     int
		unfinalized string
		conditions  map[batchv1.JobConditionType]string
	}{
		{
			name: "finished pods are counted once their finalizer is gone",
			job:  j,
			pods: []runtime.Object{jobPod(j, "a", corev1.PodSucceeded), jobPod(j, "b", corev1.PodSucceeded), jobPod(j, "c", corev1.PodRunning)},
			// 5 completions - 2 succeeded = 3 wanted, parallelism 2, 1 running.
			succeeded: 2, active: 2, creates: 1, unfinalized: "[a b]",
		},
		{
			name: "a pod recorded as uncounted is counted after a crash, not again",
			job: newJob(func(j *batchv1.Job) {
				j.Status.Succeeded = 1
				j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"a"}}
			}),
			pods:      []runtime.Object{jobPod(j, "a", corev1.PodSucceeded, unfinalized), jobPod(j, "old", corev1.PodSucceeded, unfinalized)},
			succeeded: 2, active: 2, creates: 2, unfinalized: "[]",
		},
		{
			name: "uncounted pod whose finalizer removal was lost is released again",
			job: newJob(func(j *batchv1.Job) {
				j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Failed: []types.UID{"a"}}
			}),
			pods: []runtime.Object{jobPod(j, "a", corev1.PodFailed)},
			// Backoff is in memory (as upstream): a restarted controller recreates at once.
			failed: 1, active: 2, creates: 2, unfinalized: "[a]",
		},
		{
			name:      "completions reached",
			job:       newJob(func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](1) }),
			pods:      []runtime.Object{jobPod(j, "a", corev1.PodSucceeded)},
			succeeded: 1, unfinalized: "[a]",
			conditions: map[batchv1.JobConditionType]string{
				batchv1.JobSuccessCriteriaMet: "True/CompletionsReached", batchv1.JobComplete: "True/CompletionsReached"},
		},
		{
			name: "backoff limit exceeded fails the job and stops the rest",
			job:  newJob(func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](2) }),
			pods: []runtime.Object{jobPod(j, "a", corev1.PodFailed), jobPod(j, "b", corev1.PodFailed), jobPod(j, "c", corev1.PodFailed),
				jobPod(j, "d", corev1.PodRunning)},
			// d is deleted and counted failed; Failed waits until it is gone.
			failed: 4, unfinalized: "[a b c d]",
			conditions: map[batchv1.JobConditionType]string{batchv1.JobFailureTarget: "True/BackoffLimitExceeded", batchv1.JobFailed: ""},
		},
		{
			name:   "backoff limit exceeded with nothing running fails at once",
			job:    newJob(func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](2) }),
			pods:   []runtime.Object{jobPod(j, "a", corev1.PodFailed), jobPod(j, "b", corev1.PodFailed), jobPod(j, "c", corev1.PodFailed)},
			failed: 3, unfinalized: "[a b c]",
			conditions: map[batchv1.JobConditionType]string{
				batchv1.JobFailureTarget: "True/BackoffLimitExceeded", batchv1.JobFailed: "True/BackoffLimitExceeded"},
		},
		{
			name: "active deadline exceeded",
			job: newJob(func(j *batchv1.Job) {
				j.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
				j.Status.StartTime = ptr.To(metav1.NewTime(time.Now().Add(-time.Minute)))
			}),
			pods:   []runtime.Object{jobPod(j, "a", corev1.PodRunning)},
			failed: 1, unfinalized: "[a]",
			conditions: map[batchv1.JobConditionType]string{batchv1.JobFailureTarget: "True/DeadlineExceeded"},
		},
		{
			name:        "suspended job deletes its pods without counting them",
			job:         newJob(func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }),
			pods:        []runtime.Object{jobPod(j, "a", corev1.PodRunning), jobPod(j, "b", corev1.PodRunning)},
			unfinalized: "[a b]",
			conditions:  map[batchv1.JobConditionType]string{batchv1.JobSuspended: "True/JobSuspended"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := syncOnce(t, append([]runtime.Object{tc.job}, tc.pods...)...)
			s := r.job.Status
			if s.Succeeded != tc.succeeded || s.Failed != tc.failed || s.Active != tc.active || len(r.created) != tc.creates {
				t.Errorf("succeeded %d failed %d active %d created %d; want %d %d %d %d",
					s.Succeeded, s.Failed, s.Active, len(r.created), tc.succeeded, tc.failed, tc.active, tc.creates)
			}
			if u := s.UncountedTerminatedPods; len(u.Succeeded)+len(u.Failed) != 0 {
				t.Errorf("uncounted left: %+v", u)
			}
			if tc.unfinalized != "" && fmt.Sprint(r.unfinalized) != tc.unfinalized {
				t.Errorf("finalizers removed from %v, want %s", r.unfinalized, tc.unfinalized)
			}
			for ct, want := range tc.conditions {
				if got := condition(r.job, ct); got != want {
					t.Errorf("condition %s = %q, want %q", ct, got, want)
				}
			}
			if c := findCondition(r.job, batchv1.JobComplete); c != nil && r.job.Status.CompletionTime == nil {
				t.Errorf("Complete without completionTime")
			}
		})
	}
}

func TestBackoffDelaysRecreation(t *testing.T) {
	j := newJob()
	recent := func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0].State.Terminated.FinishedAt = metav1.NewTime(time.Now().Add(-time.Second))
	}
	jm, r := syncOnce(t, j, jobPod(j, "a", corev1.PodFailed, recent))
	if len(r.created) != 0 {
		t.Fatalf("created %d pods within the backoff", len(r.created))
	}
	if rec := jm.backoff.m["ns/work"]; rec.failuresAfterLastSuccess != 1 {
		t.Fatalf("backoff record %+v", rec)
	}
	for _, tc := range []struct {
		failures int32
		want     time.Duration
	}{{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {6, 320 * time.Second}, {7, 6 * time.Minute}, {20, 6 * time.Minute}} {
		now := time.Now()
		if got := (backoffRecord{failuresAfterLastSuccess: tc.failures, lastFailureTime: now}).remaining(now); got != tc.want {
			t.Errorf("%d failures: backoff %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestTTLDeletesFinishedJob(t *testing.T) {
	j := newJob(func(j *batchv1.Job) {
		j.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	})
	_, r := syncOnce(t, j)
	if fmt.Sprint(r.deleted) != "[jobs/work]" {
		t.Fatalf("deleted %v", r.deleted)
	}
}

func TestOrphanPodLosesFinalizer(t *testing.T) {
	j := newJob()
	p := jobPod(j, "left", corev1.PodRunning)
	jm, client := newTestController(t, p) // its job is gone
	if err := jm.syncOrphanPod(context.Background(), "ns/left"); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().Pods("ns").Get(context.Background(), "left", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hasFinalizer(got) {
		t.Fatalf("finalizer kept on an orphan: %v", got.Finalizers)
	}
}

func TestIndexes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		add  []int
		want string
		n    int
	}{
		{"", []int{3, 1, 2}, "1-3", 3},
		{"0,2-4", []int{1}, "0-4", 5},
		{"0,2-4", []int{6}, "0,2-4,6", 5},
		{"1,x,9-3,8", nil, "1,8", 2},
		{"5-20", nil, "5-9", 5}, // completions 10 clips
	} {
		got := parseIndexes(tc.in, 10).with(tc.add)
		if got.String() != tc.want || got.total() != tc.n {
			t.Errorf("%q + %v = %q (%d), want %q (%d)", tc.in, tc.add, got, got.total(), tc.want, tc.n)
		}
	}
}

func TestBadInputCreatesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		job  *batchv1.Job
	}{
		{"selector does not match template", newJob(func(j *batchv1.Job) { j.Spec.Template.Labels = map[string]string{"other": "x"} })},
		{"empty selector", newJob(func(j *batchv1.Job) { j.Spec.Selector = &metav1.LabelSelector{} })},
		{"indexed without completions", newJob(indexed, func(j *batchv1.Job) { j.Spec.Completions = nil })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := syncOnce(t, tc.job)
			if len(r.created) != 0 {
				t.Fatalf("created %d pods", len(r.created))
			}
		})
	}
}

func TestAdoptionAddsFinalizer(t *testing.T) {
	j := newJob(func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](1), ptr.To[int32](1) })
	orphan := jobPod(j, "orphan", corev1.PodRunning)
	orphan.OwnerReferences, orphan.Finalizers = nil, nil
	jm, client := newTestController(t, j, orphan)
	if err := jm.sync(context.Background(), "ns/work"); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().Pods("ns").Get(context.Background(), "orphan", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(got); ref == nil || ref.UID != j.UID || !hasFinalizer(got) {
		t.Fatalf("adopted pod: owners %v finalizers %v", got.OwnerReferences, got.Finalizers)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "pods" {
			t.Fatalf("created a pod although the adopted one runs")
		}
	}
}

func TestFinalizerClaimPatch(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"metadata":{"ownerReferences":[{"uid":"j"}],"uid":"p"}}`, `"finalizers":["batch.kubernetes.io/job-tracking"]`},
		{`{"metadata":{"ownerReferences":[{"$patch":"delete","uid":"j"}],"uid":"p"}}`, `"$deleteFromPrimitiveList/finalizers":["batch.kubernetes.io/job-tracking"]`},
	} {
		if got := string(finalizerClaimPatch([]byte(tc.in))); !strings.Contains(got, tc.want) || !strings.Contains(got, `"uid":"p"`) {
			t.Errorf("finalizerClaimPatch(%s) = %s, want it to contain %s", tc.in, got, tc.want)
		}
	}
}
