package integration

import (
	"context"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
)

// TestSemantics covers generation, the status subresource, defaulting and
// the events.k8s.io/v1 view of core events on one control plane.
func TestSemantics(t *testing.T) {
	cp := start(t)
	ns := newNamespace(t, cp.Client, "semantics")
	t.Run("generation", func(t *testing.T) { testGeneration(t, cp.Client.AppsV1().Deployments(ns)) })
	t.Run("status", func(t *testing.T) { testStatusSubresource(t, cp.Client.AppsV1().Deployments(ns)) })
	t.Run("pod status", func(t *testing.T) { testPodStatus(t, cp.Client.CoreV1().Pods(ns)) })
	t.Run("defaults", func(t *testing.T) { testDefaults(t, cp, ns) })
	t.Run("events", func(t *testing.T) { testEventsBothAPIs(t, cp, ns) })
}

type deploymentClient interface {
	Create(ctx context.Context, d *appsv1.Deployment, o metav1.CreateOptions) (*appsv1.Deployment, error)
	Update(ctx context.Context, d *appsv1.Deployment, o metav1.UpdateOptions) (*appsv1.Deployment, error)
	UpdateStatus(ctx context.Context, d *appsv1.Deployment, o metav1.UpdateOptions) (*appsv1.Deployment, error)
	Get(ctx context.Context, name string, o metav1.GetOptions) (*appsv1.Deployment, error)
}

func testGeneration(t *testing.T, c deploymentClient) {
	ctx := t.Context()
	d, err := c.Create(ctx, testDeployment("gen"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 {
		t.Fatalf("new deployment generation %d, want 1", d.Generation)
	}
	steps := []struct {
		name    string
		change  func(d *appsv1.Deployment)
		status  bool
		wantGen int64
	}{
		{"labels", func(d *appsv1.Deployment) { d.Labels = map[string]string{"x": "y"} }, false, 1},
		{"annotations", func(d *appsv1.Deployment) { d.Annotations = map[string]string{"x": "y"} }, false, 1},
		{"status", func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 1; d.Status.Replicas = 2 }, true, 1},
		{"spec", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(5)) }, false, 2},
		{"spec again", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:2" }, false, 3},
		{"no-op", func(*appsv1.Deployment) {}, false, 3},
	}
	for _, s := range steps {
		s.change(d)
		if s.status {
			d, err = c.UpdateStatus(ctx, d, metav1.UpdateOptions{})
		} else {
			d, err = c.Update(ctx, d, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if d.Generation != s.wantGen {
			t.Errorf("after a %s change generation is %d, want %d", s.name, d.Generation, s.wantGen)
		}
	}
}

func testStatusSubresource(t *testing.T, c deploymentClient) {
	ctx := t.Context()
	d, err := c.Create(ctx, func() *appsv1.Deployment {
		d := testDeployment("status")
		d.Status.Replicas = 7 // ignored on create
		return d
	}(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.Replicas != 0 {
		t.Errorf("create kept status.replicas %d, want it reset", d.Status.Replicas)
	}
	// The status subresource writes status only.
	d.Status.Replicas, d.Status.ReadyReplicas = 2, 1
	d.Spec.Replicas = ptr(int32(9))
	d.Labels = map[string]string{"through": "status"}
	st, err := c.UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.Replicas != 2 || st.Status.ReadyReplicas != 1 || *st.Spec.Replicas != 2 || st.Labels["through"] != "" {
		t.Errorf("status update: status %d/%d spec.replicas %d labels %v; want status 2/1, spec 2, no labels",
			st.Status.Replicas, st.Status.ReadyReplicas, *st.Spec.Replicas, st.Labels)
	}
	// The main resource ignores status.
	st.Status.Replicas = 100
	st.Spec.Replicas = ptr(int32(3))
	main, err := c.Update(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if main.Status.Replicas != 2 || *main.Spec.Replicas != 3 {
		t.Errorf("main update: status.replicas %d spec.replicas %d, want 2 and 3", main.Status.Replicas, *main.Spec.Replicas)
	}
	got, err := c.Get(ctx, "status", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Replicas != 2 || got.Status.ReadyReplicas != 1 {
		t.Errorf("stored status %+v, want replicas 2 ready 1", got.Status)
	}
}

type podClient interface {
	Create(ctx context.Context, p *corev1.Pod, o metav1.CreateOptions) (*corev1.Pod, error)
	UpdateStatus(ctx context.Context, p *corev1.Pod, o metav1.UpdateOptions) (*corev1.Pod, error)
}

func testPodStatus(t *testing.T, c podClient) {
	ctx := t.Context()
	p := testPod("status")
	p.Status.Phase = corev1.PodRunning
	pod, err := c.Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Status.Phase != corev1.PodPending || pod.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("new pod phase %q qosClass %q, want Pending BestEffort", pod.Status.Phase, pod.Status.QOSClass)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = "10.244.0.9"
	pod.Spec.ActiveDeadlineSeconds = ptr(int64(5))
	out, err := c.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status.Phase != corev1.PodRunning || out.Status.PodIP != "10.244.0.9" || out.Spec.ActiveDeadlineSeconds != nil {
		t.Errorf("pod status update: phase %q ip %q activeDeadlineSeconds %v; want Running 10.244.0.9 nil",
			out.Status.Phase, out.Status.PodIP, out.Spec.ActiveDeadlineSeconds)
	}
}

func testDefaults(t *testing.T, cp controlPlane, ns string) {
	ctx := t.Context()
	c := cp.Client
	pod, err := c.CoreV1().Pods(ns).Create(ctx, testPod("defaults"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctr := pod.Spec.Containers[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"pod restartPolicy", pod.Spec.RestartPolicy, corev1.RestartPolicyAlways},
		{"pod dnsPolicy", pod.Spec.DNSPolicy, corev1.DNSClusterFirst},
		{"pod terminationGracePeriodSeconds", deref(pod.Spec.TerminationGracePeriodSeconds), int64(30)},
		{"pod schedulerName", pod.Spec.SchedulerName, corev1.DefaultSchedulerName},
		{"pod securityContext", pod.Spec.SecurityContext != nil, true},
		{"container imagePullPolicy (tagged)", ctr.ImagePullPolicy, corev1.PullIfNotPresent},
		{"container terminationMessagePath", ctr.TerminationMessagePath, corev1.TerminationMessagePathDefault},
		{"container terminationMessagePolicy", ctr.TerminationMessagePolicy, corev1.TerminationMessageReadFile},
	}
	latest := testPod("latest")
	latest.Spec.Containers[0].Image = "busybox"
	lp, err := c.CoreV1().Pods(ns).Create(ctx, latest, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checks = append(checks, struct {
		what      string
		got, want any
	}{"container imagePullPolicy (untagged)", lp.Spec.Containers[0].ImagePullPolicy, corev1.PullAlways})

	svc := testService("defaults")
	svc.Spec.Ports[0].TargetPort = intstr.IntOrString{}
	s, err := c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Spec.Ports[0]
	checks = append(checks, []struct {
		what      string
		got, want any
	}{
		{"service type", s.Spec.Type, corev1.ServiceTypeClusterIP},
		{"service sessionAffinity", s.Spec.SessionAffinity, corev1.ServiceAffinityNone},
		{"service port protocol", p.Protocol, corev1.ProtocolTCP},
		{"service targetPort", p.TargetPort, intstr.FromInt32(80)},
		{"service internalTrafficPolicy", deref(s.Spec.InternalTrafficPolicy), corev1.ServiceInternalTrafficPolicyCluster},
		{"service ipFamilies", len(s.Spec.IPFamilies), 1},
	}...)

	d := testDeployment("defaults")
	d.Spec.Replicas = nil
	dep, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checks = append(checks, []struct {
		what      string
		got, want any
	}{
		{"deployment replicas", deref(dep.Spec.Replicas), int32(1)},
		{"deployment strategy", dep.Spec.Strategy.Type, appsv1.RollingUpdateDeploymentStrategyType},
		{"deployment maxSurge", dep.Spec.Strategy.RollingUpdate != nil && *dep.Spec.Strategy.RollingUpdate.MaxSurge == intstr.FromString("25%"), true},
		{"deployment maxUnavailable", dep.Spec.Strategy.RollingUpdate != nil && *dep.Spec.Strategy.RollingUpdate.MaxUnavailable == intstr.FromString("25%"), true},
		{"deployment revisionHistoryLimit", deref(dep.Spec.RevisionHistoryLimit), int32(10)},
		{"deployment progressDeadlineSeconds", deref(dep.Spec.ProgressDeadlineSeconds), int32(600)},
		{"deployment template restartPolicy", dep.Spec.Template.Spec.RestartPolicy, corev1.RestartPolicyAlways},
	}...)

	job, err := c.BatchV1().Jobs(ns).Create(ctx, testJob("defaults"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checks = append(checks, []struct {
		what      string
		got, want any
	}{
		{"job completions", deref(job.Spec.Completions), int32(1)},
		{"job parallelism", deref(job.Spec.Parallelism), int32(1)},
		{"job backoffLimit", deref(job.Spec.BackoffLimit), int32(6)},
		{"job completionMode", deref(job.Spec.CompletionMode), "NonIndexed"},
		{"job selector", job.Spec.Selector != nil && job.Spec.Selector.MatchLabels["batch.kubernetes.io/controller-uid"] == string(job.UID), true},
		{"job template controller-uid label", job.Spec.Template.Labels["batch.kubernetes.io/controller-uid"], string(job.UID)},
		{"job template job-name label", job.Spec.Template.Labels["batch.kubernetes.io/job-name"], "defaults"},
	}...)

	for _, ch := range checks {
		if ch.got != ch.want && !equalStringish(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.what, ch.got, ch.want)
		}
	}
}

func testEventsBothAPIs(t *testing.T, cp controlPlane, ns string) {
	ctx := t.Context()
	c := cp.Client
	ev, err := c.EventsV1().Events(ns).Create(ctx, eventsV1Event("new-api", ns), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	core, err := c.CoreV1().Events(ns).Get(ctx, "new-api", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("events.k8s.io event not visible as a core event: %v", err)
	}
	if core.UID != ev.UID || core.Reason != "Tested" || core.Message != "a test event" ||
		core.InvolvedObject.Name != "web" || core.ReportingController != "kubelab.dev/integration-test" || core.Action != "Testing" {
		t.Errorf("core view of an events.k8s.io event: %+v", core)
	}
	w, err := c.EventsV1().Events(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: ev.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	old, err := c.CoreV1().Events(ns).Create(ctx, coreEvent("old-api", ns), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e := nextNonBookmark(t, w); e.Type != watch.Added {
		t.Errorf("events.k8s.io watch: %s, want ADDED", e.Type)
	} else if got, ok := e.Object.(*eventsv1.Event); !ok || got.Name != "old-api" || got.Note != "a test event" {
		t.Errorf("events.k8s.io watch object %#v", e.Object)
	}
	nev, err := c.EventsV1().Events(ns).Get(ctx, "old-api", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("core event not visible through events.k8s.io: %v", err)
	}
	if nev.UID != old.UID || nev.Note != "a test event" || nev.Regarding.Name != "web" || nev.DeprecatedCount != 1 {
		t.Errorf("events.k8s.io view of a core event: %+v", nev)
	}
	list, err := c.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	coreList, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 || len(coreList.Items) != 2 {
		t.Errorf("events.k8s.io lists %d events, core %d; want 2 each", len(list.Items), len(coreList.Items))
	}
	if err := c.EventsV1().Events(ns).Delete(ctx, "old-api", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Events(ns).Get(ctx, "old-api", metav1.GetOptions{}); err == nil {
		t.Errorf("event deleted through events.k8s.io is still a core event")
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// equalStringish compares values of string kinds by their text.
func equalStringish(a, b any) bool {
	as, ok1 := stringOf(a)
	bs, ok2 := stringOf(b)
	return ok1 && ok2 && as == bs
}

func stringOf(v any) (string, bool) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.String {
		return "", false
	}
	return rv.String(), true
}
