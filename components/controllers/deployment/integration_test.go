package deployment_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/components/controllers/deployment"
	"github.com/kubelab/kubelab/components/controllers/replicaset"
	"github.com/kubelab/kubelab/components/controllers/replicaset/workloadtest"
	"github.com/kubelab/kubelab/components/kubelet/hollow"
)

// rollingBounds returns the invariant of a rolling update: at most
// replicas+maxSurge pods and at least replicas-maxUnavailable ready ones.
// Terminating pods are not counted, as upstream does not (a replacement
// may start while an old pod shuts down).
func rollingBounds(n, surge, unavailable int) func(map[string]*corev1.Pod) string {
	return func(pods map[string]*corev1.Pod) string {
		total, ready := 0, 0
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			total++
			if workloadtest.PodReady(p) {
				ready++
			}
		}
		if total > n+surge {
			return fmt.Sprintf("%d pods > %d+%d", total, n, surge)
		}
		if ready < n-unavailable {
			return fmt.Sprintf("%d ready pods < %d-%d", ready, n, unavailable)
		}
		return ""
	}
}

func TestDeploymentIntegration(t *testing.T) {
	cl := workloadtest.Start(t, 3, replicaset.New, deployment.New)
	c := cl.Client

	for _, tc := range []struct {
		name               string
		replicas           int32
		surge, unavailable intstr.IntOrString
		wantSurge, wantUn  int
	}{
		{"surge 1 unavailable 1", 4, intstr.FromInt32(1), intstr.FromInt32(1), 1, 1},
		{"surge 25% unavailable 0", 5, intstr.FromString("25%"), intstr.FromString("0%"), 2, 0},
		{"surge 0 unavailable 34%", 3, intstr.FromInt32(0), intstr.FromString("34%"), 0, 1},
	} {
		t.Run("rolling update "+tc.name, func(t *testing.T) {
			ns := workloadtest.Namespace(t, c, fmt.Sprintf("rolling-%d", tc.replicas))
			testRollingUpdate(t, c, ns, tc.replicas, tc.surge, tc.unavailable, tc.wantSurge, tc.wantUn)
		})
	}
	t.Run("recreate", func(t *testing.T) { testRecreate(t, c) })
	t.Run("proportional scaling mid-rollout", func(t *testing.T) { testProportional(t, c) })
	t.Run("pause and resume", func(t *testing.T) { testPause(t, c) })
	t.Run("progress deadline", func(t *testing.T) { testDeadline(t, c) })
}

func testRollingUpdate(t *testing.T, c kubernetes.Interface, ns string, n int32, surge, unavailable intstr.IntOrString, wantSurge, wantUn int) {
	ctx := t.Context()
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, rolling(newDeployment("web", n, "app:v1"), surge, unavailable), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := waitRolledOut(t, c, ns, "web")
	if d.Annotations[deployment.RevisionAnnotation] != "1" {
		t.Fatalf("deployment revision %q", d.Annotations[deployment.RevisionAnnotation])
	}
	w := watchPods(t, c, ns, rollingBounds(int(n), wantSurge, wantUn))
	setImage(t, c, ns, "web", "app:v2")
	d = waitRolledOut(t, c, ns, "web")
	violations, events := w.result()
	if len(violations) > 0 {
		t.Fatalf("bounds broken during the rollout (%d events):\n%v", events, violations)
	}
	t.Logf("rollout: bounds held over %d pod events", events)
	if got := images(t, c, ns); got["app:v2"] != int(n) || len(got) != 1 {
		t.Fatalf("pods by image %v", got)
	}
	checkStatus(t, d)
	rss := ownedReplicaSets(t, c, d)
	old, cur := rss["1"], rss["2"]
	if len(rss) != 2 || old == nil || cur == nil || *old.Spec.Replicas != 0 || *cur.Spec.Replicas != n {
		t.Fatalf("replica sets by revision: %v", rss)
	}
	hash := cur.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	if hash == "" || cur.Name != "web-"+hash || cur.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
		cur.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || hash != deployment.ComputeHash(&d.Spec.Template, nil) {
		t.Fatalf("new replica set %s: hash %q labels %v", cur.Name, hash, cur.Labels)
	}
	if cur.Annotations[deployment.DesiredReplicasAnnotation] != fmt.Sprint(n) || cur.Annotations[deployment.MaxReplicasAnnotation] != fmt.Sprint(int(n)+wantSurge) {
		t.Fatalf("replicas annotations %v", cur.Annotations)
	}
	if d.Annotations[deployment.RevisionAnnotation] != "2" {
		t.Fatalf("deployment revision %q", d.Annotations[deployment.RevisionAnnotation])
	}

	// Roll back as `kubectl rollout undo` does: copy revision 1's
	// template (without the hash label) and annotations into the deployment.
	tmpl := old.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	annotations := map[string]string{}
	for k, v := range old.Annotations {
		switch k {
		case deployment.RevisionAnnotation, deployment.RevisionHistoryAnnotation, deployment.DesiredReplicasAnnotation, deployment.MaxReplicasAnnotation:
		default:
			annotations[k] = v
		}
	}
	annotations[deployment.RevisionAnnotation] = d.Annotations[deployment.RevisionAnnotation]
	patch, _ := json.Marshal([]map[string]any{
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "replace", "path": "/metadata/annotations", "value": annotations},
	})
	w = watchPods(t, c, ns, rollingBounds(int(n), wantSurge, wantUn))
	if _, err := c.AppsV1().Deployments(ns).Patch(ctx, "web", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	workloadtest.Eventually(t, 60*time.Second, "rolled back", func() (bool, error) {
		got, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && rolledOut(got) && got.Annotations[deployment.RevisionAnnotation] == "3", err
	})
	if violations, events := w.result(); len(violations) > 0 {
		t.Fatalf("bounds broken during the rollback (%d events):\n%v", events, violations)
	}
	if got := images(t, c, ns); got["app:v1"] != int(n) || len(got) != 1 {
		t.Fatalf("pods by image after rollback %v", got)
	}
	rss = ownedReplicaSets(t, c, d)
	back := rss["3"]
	if len(rss) != 2 || back == nil || back.UID != old.UID || back.Annotations[deployment.RevisionHistoryAnnotation] != "1" {
		t.Fatalf("after rollback, replica sets by revision: %v (history %q)", rss, back.Annotations[deployment.RevisionHistoryAnnotation])
	}
}

func checkStatus(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	s, n := d.Status, *d.Spec.Replicas
	if s.Replicas != n || s.UpdatedReplicas != n || s.ReadyReplicas != n || s.AvailableReplicas != n || s.UnavailableReplicas != 0 || s.ObservedGeneration != d.Generation {
		t.Fatalf("status %+v", s)
	}
	want := map[appsv1.DeploymentConditionType]string{
		appsv1.DeploymentProgressing: deployment.ReasonNewRSAvailable,
		appsv1.DeploymentAvailable:   deployment.ReasonMinimumAvailable,
	}
	for _, c := range s.Conditions {
		if r, ok := want[c.Type]; ok && c.Reason == r && c.Status == corev1.ConditionTrue {
			delete(want, c.Type)
		}
	}
	if len(want) > 0 {
		t.Fatalf("conditions %+v", s.Conditions)
	}
}

func testRecreate(t *testing.T, c kubernetes.Interface) {
	ctx := t.Context()
	ns := workloadtest.Namespace(t, c, "recreate")
	d := newDeployment("web", 3, "app:v1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, c, ns, "web")
	w := watchPods(t, c, ns, func(pods map[string]*corev1.Pod) string {
		byImage := map[string]int{}
		for _, p := range pods {
			byImage[p.Spec.Containers[0].Image]++
		}
		if byImage["app:v1"] > 0 && byImage["app:v2"] > 0 {
			return fmt.Sprintf("old and new pods at once: %v", byImage)
		}
		return ""
	})
	setImage(t, c, ns, "web", "app:v2")
	got := waitRolledOut(t, c, ns, "web")
	if violations, events := w.result(); len(violations) > 0 {
		t.Fatalf("recreate overlapped (%d events):\n%v", events, violations)
	}
	if imgs := images(t, c, ns); imgs["app:v2"] != 3 || len(imgs) != 1 {
		t.Fatalf("pods by image %v", imgs)
	}
	checkStatus(t, got)
}

func testProportional(t *testing.T, c kubernetes.Interface) {
	ctx := t.Context()
	ns := workloadtest.Namespace(t, c, "proportional")
	d := rolling(newDeployment("web", 10, "app:v1"), intstr.FromInt32(3), intstr.FromInt32(2))
	d.Spec.Template.Annotations = nil
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d = waitRolledOut(t, c, ns, "web")
	// A new template whose pods never become ready stalls the rollout at
	// old 8 (10 - maxUnavailable) and new 5 (13 - 8).
	update(t, c, ns, "web", func(d *appsv1.Deployment) {
		d.Spec.Template.Annotations = map[string]string{hollow.AnnotationReadyAfterSeconds: "3600"}
		d.Spec.Template.Spec.Containers[0].Image = "app:v2"
	})
	sizes := func(old, new int32) func() (bool, error) {
		return func() (bool, error) {
			rss := ownedReplicaSets(t, c, d)
			o, n := rss["1"], rss["2"]
			if o == nil || n == nil {
				return false, nil
			}
			return *o.Spec.Replicas == old && *n.Spec.Replicas == new && o.Status.Replicas == old && n.Status.Replicas == new, nil
		}
	}
	workloadtest.Eventually(t, 60*time.Second, "rollout stalled at old 8, new 5", sizes(8, 5))
	patch := []byte(`{"spec":{"replicas":20}}`)
	if _, err := c.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// 23 (20 + maxSurge) spread as 8:5 of 13: old 8*23/13 = 14, new 9.
	workloadtest.Eventually(t, 60*time.Second, "scaled proportionally to old 14, new 9", sizes(14, 9))
	for _, rs := range ownedReplicaSets(t, c, d) {
		if rs.Annotations[deployment.DesiredReplicasAnnotation] != "20" || rs.Annotations[deployment.MaxReplicasAnnotation] != "23" {
			t.Fatalf("%s annotations %v", rs.Name, rs.Annotations)
		}
	}
	// A good template rolls over both and completes at 20.
	update(t, c, ns, "web", func(d *appsv1.Deployment) {
		d.Spec.Template.Annotations = nil
		d.Spec.Template.Spec.Containers[0].Image = "app:v3"
	})
	workloadtest.Eventually(t, 90*time.Second, "rolled over to v3", func() (bool, error) {
		got, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && rolledOut(got), err
	})
	if imgs := images(t, c, ns); imgs["app:v3"] != 20 || len(imgs) != 1 {
		t.Fatalf("pods by image %v", imgs)
	}
}

func progressing(d *appsv1.Deployment) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == appsv1.DeploymentProgressing {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func testPause(t *testing.T, c kubernetes.Interface) {
	ctx := t.Context()
	ns := workloadtest.Namespace(t, c, "pause")
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, newDeployment("web", 2, "app:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := waitRolledOut(t, c, ns, "web")
	patch := func(body string) {
		t.Helper()
		if _, err := c.AppsV1().Deployments(ns).Patch(ctx, "web", types.StrategicMergePatchType, []byte(body), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	patch(`{"spec":{"paused":true}}`)
	setImage(t, c, ns, "web", "app:v2")
	workloadtest.Eventually(t, 30*time.Second, "paused condition observed", func() (bool, error) {
		got, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		p := progressing(got)
		return got.Status.ObservedGeneration == got.Generation && p != nil && p.Reason == deployment.ReasonPaused && p.Status == corev1.ConditionUnknown, nil
	})
	time.Sleep(time.Second)
	if rss := ownedReplicaSets(t, c, d); len(rss) != 1 {
		t.Fatalf("a paused deployment rolled out: %d replica sets", len(rss))
	}
	patch(`{"spec":{"paused":false}}`)
	waitRolledOut(t, c, ns, "web")
	if imgs := images(t, c, ns); imgs["app:v2"] != 2 || len(imgs) != 1 {
		t.Fatalf("pods by image %v", imgs)
	}
}

func testDeadline(t *testing.T, c kubernetes.Interface) {
	ctx := t.Context()
	ns := workloadtest.Namespace(t, c, "deadline")
	d := newDeployment("web", 1, "app:v1")
	d.Spec.Template.Annotations = map[string]string{hollow.AnnotationReadyAfterSeconds: "3600"}
	two := int32(2)
	d.Spec.ProgressDeadlineSeconds = &two
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	workloadtest.Eventually(t, 30*time.Second, "ProgressDeadlineExceeded", func() (bool, error) {
		got, err := c.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		p := progressing(got)
		return p != nil && p.Status == corev1.ConditionFalse && p.Reason == deployment.ReasonTimedOut, nil
	})
	got, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cond := range got.Status.Conditions {
		if cond.Type == appsv1.DeploymentAvailable && (cond.Status != corev1.ConditionFalse || cond.Reason != deployment.ReasonMinimumUnavailable) {
			t.Fatalf("available condition %+v", cond)
		}
	}
}
