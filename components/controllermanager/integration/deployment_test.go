package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kubelab/kubelab/components/kubelet/hollow"
)

// revisionAnnotation is the deployment controller's revision annotation.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// deployment is a rolling Deployment of replicas pods labelled app=name
// whose containers become ready a second after they start.
func deployment(name, image string, replicas int32, surge, unavailable int) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge: ptr.To(intstr.FromInt32(int32(surge))), MaxUnavailable: ptr.To(intstr.FromInt32(int32(unavailable))),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{hollow.AnnotationReadyAfterSeconds: "1"}},
				Spec:       corev1.PodSpec{Containers: container(image)},
			},
		},
	}
}

// waitRolledOut waits for what `kubectl rollout status` waits for: the
// controller observed the latest generation and every replica is
// updated, available, and no old one is left.
func (cl *cluster) waitRolledOut(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	waitFor(t, "deployment "+name+" rolled out", func(ctx context.Context) (bool, string) {
		var err error
		if d, err = cl.c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		s, want := d.Status, *d.Spec.Replicas
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want &&
			s.AvailableReplicas == want && s.ReadyReplicas == want, fmt.Sprintf("generation %d status %+v", d.Generation, s)
	})
	return d
}

// rollingBounds is the invariant of a rolling update of replicas pods:
// at most replicas+surge active pods, at least replicas-unavailable of
// them available (ready; minReadySeconds is 0).
func rollingBounds(replicas, surge, unavailable int) func([]*corev1.Pod) string {
	return func(pods []*corev1.Pod) string {
		active, available := 0, 0
		for _, p := range pods {
			if podActive(p) {
				active++
				if podReady(p) {
					available++
				}
			}
		}
		if active > replicas+surge {
			return fmt.Sprintf("%d active pods, more than %d+%d", active, replicas, surge)
		}
		if available < replicas-unavailable {
			return fmt.Sprintf("%d available pods, fewer than %d-%d", available, replicas, unavailable)
		}
		return ""
	}
}

// replicaSetsOf returns the deployment's ReplicaSets by revision.
func (cl *cluster) replicaSetsOf(ctx context.Context, ns string, d *appsv1.Deployment) (map[string]appsv1.ReplicaSet, error) {
	list, err := cl.c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]appsv1.ReplicaSet{}
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			out[rs.Annotations[revisionAnnotation]] = rs
		}
	}
	return out, nil
}

// podImages counts the active pods of ns matching selector by image.
func (cl *cluster) podImages(ctx context.Context, ns, selector string) (map[string]int, error) {
	pods, err := cl.listPods(ctx, ns, selector)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for i := range pods {
		if podActive(&pods[i]) {
			out[pods[i].Spec.Containers[0].Image]++
		}
	}
	return out, nil
}

// TestDeploymentRollingUpdateAndUndo rolls a Deployment out to a new
// image and back the way `kubectl rollout undo` does, watching every pod
// change: maxSurge and maxUnavailable hold at every revision, and the
// undo brings the old ReplicaSet back instead of a new one.
func TestDeploymentRollingUpdateAndUndo(t *testing.T) {
	const replicas, surge, unavailable = 4, 1, 1
	cl := startCluster(t, 3)
	ctx := t.Context()
	ns := cl.namespace(t, "deploy")
	deploys := cl.c.AppsV1().Deployments(ns)
	obs := cl.observePods(t, ns, "app=web", nil)
	if _, err := deploys.Create(ctx, deployment("web", "web:1", replicas, surge, unavailable), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := cl.waitRolledOut(t, ns, "web")
	if got := d.Annotations[revisionAnnotation]; got != "1" {
		t.Errorf("revision %q after the first rollout, want 1", got)
	}
	rss, err := cl.replicaSetsOf(ctx, ns, d)
	if err != nil {
		t.Fatal(err)
	}
	first, ok := rss["1"]
	if !ok || len(rss) != 1 {
		t.Fatalf("replica sets by revision %v, want revision 1 only", slices.Collect(mapKeys(rss)))
	}
	if first.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == "" {
		t.Errorf("replica set %s has no pod-template-hash label", first.Name)
	}
	obs.catchUp(t)
	obs.setCheck(rollingBounds(replicas, surge, unavailable))

	// Roll out web:2.
	start := time.Now()
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"web:2"}]}}}}`
	if _, err := deploys.Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	d = cl.waitRolledOut(t, ns, "web")
	waitFor(t, "only web:2 pods", func(ctx context.Context) (bool, string) {
		images, err := cl.podImages(ctx, ns, "app=web")
		return err == nil && len(images) == 1 && images["web:2"] == replicas, fmt.Sprint(images, err)
	})
	t.Logf("rolled out web:2 in %v", time.Since(start).Round(time.Millisecond))
	if got := d.Annotations[revisionAnnotation]; got != "2" {
		t.Errorf("revision %q after the second rollout, want 2", got)
	}

	// Undo as kubectl does: the template of revision 1 without its
	// pod-template-hash label replaces the deployment's.
	start = time.Now()
	tmpl := first.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	undo, err := json.Marshal([]map[string]any{{"op": "replace", "path": "/spec/template", "value": tmpl}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deploys.Patch(ctx, "web", types.JSONPatchType, undo, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	d = cl.waitRolledOut(t, ns, "web")
	waitFor(t, "only web:1 pods", func(ctx context.Context) (bool, string) {
		images, err := cl.podImages(ctx, ns, "app=web")
		return err == nil && len(images) == 1 && images["web:1"] == replicas, fmt.Sprint(images, err)
	})
	t.Logf("rolled back to web:1 in %v", time.Since(start).Round(time.Millisecond))
	if got := d.Annotations[revisionAnnotation]; got != "3" {
		t.Errorf("revision %q after the undo, want 3", got)
	}
	waitFor(t, "Available and Progressing conditions", func(ctx context.Context) (bool, string) {
		d, err := deploys.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		var available, progressing bool
		for _, c := range d.Status.Conditions {
			switch c.Type {
			case appsv1.DeploymentAvailable:
				available = c.Status == corev1.ConditionTrue && c.Reason == "MinimumReplicasAvailable"
			case appsv1.DeploymentProgressing:
				progressing = c.Status == corev1.ConditionTrue && c.Reason == "NewReplicaSetAvailable"
			}
		}
		return available && progressing, fmt.Sprintf("%+v", d.Status.Conditions)
	})
	rss, err = cl.replicaSetsOf(ctx, ns, d)
	if err != nil {
		t.Fatal(err)
	}
	back, ok := rss["3"]
	switch {
	case len(rss) != 2:
		t.Errorf("replica sets by revision %v, want 2 and 3 (the first one reused)", slices.Collect(mapKeys(rss)))
	case !ok || back.UID != first.UID:
		t.Errorf("revision 3 is replica set %s (%s), want the first one %s (%s) scaled back up", back.Name, back.UID, first.Name, first.UID)
	case ptr.Deref(back.Spec.Replicas, -1) != replicas || ptr.Deref(rss["2"].Spec.Replicas, -1) != 0:
		t.Errorf("replicas: revision 3 %d, revision 2 %d; want %d and 0", ptr.Deref(back.Spec.Replicas, -1), ptr.Deref(rss["2"].Spec.Replicas, -1), replicas)
	}
	pods, err := cl.listPods(ctx, ns, "app=web")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if ref := metav1.GetControllerOf(&p); podActive(&p) && (ref == nil || ref.UID != first.UID) {
			t.Errorf("pod %s is controlled by %v, want replica set %s", p.Name, ref, first.Name)
		}
	}
	obs.catchUp(t)
	obs.assertNoViolations(t)
}

// mapKeys yields m's keys.
func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestDeploymentForegroundDeletion deletes a Deployment in the
// foreground: its pods are gone before its ReplicaSet, and the
// ReplicaSet before the Deployment, in the order the API server's watch
// reports the deletions.
func TestDeploymentForegroundDeletion(t *testing.T) {
	cl := startCluster(t, 3)
	ctx := t.Context()
	ns := cl.namespace(t, "fg")
	if _, err := cl.c.AppsV1().Deployments(ns).Create(ctx, deployment("web", "web:1", 3, 1, 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := cl.waitRolledOut(t, ns, "web")
	rss, err := cl.replicaSetsOf(ctx, ns, d)
	if err != nil || len(rss) != 1 {
		t.Fatalf("replica sets %v (%v), want one", slices.Collect(mapKeys(rss)), err)
	}
	rs := rss["1"]
	pods, err := cl.listPods(ctx, ns, "app=web")
	if err != nil || len(pods) != 3 {
		t.Fatalf("pods: %v %v", describePods(pods), err)
	}
	for _, p := range pods {
		if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != rs.UID || !ptr.Deref(ref.BlockOwnerDeletion, false) {
			t.Errorf("pod %s owner %+v, want a blocking controller reference to %s", p.Name, ref, rs.Name)
		}
	}
	if ref := metav1.GetControllerOf(&rs); ref == nil || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Errorf("replica set %s owner %+v, want a blocking controller reference", rs.Name, ref)
	}

	deletions := cl.watchDeletions(t, ns)
	fg := metav1.DeletePropagationForeground
	if err := cl.c.AppsV1().Deployments(ns).Delete(ctx, "web", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	// Right after the delete the deployment still exists, waiting for its
	// dependents.
	cur, err := cl.c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		t.Errorf("deployment deleted at once; foreground deletion must wait for its dependents")
	case err != nil:
		t.Fatal(err)
	case cur.DeletionTimestamp == nil || !slices.Contains(cur.Finalizers, metav1.FinalizerDeleteDependents):
		t.Errorf("deployment after a foreground delete: deletionTimestamp %v finalizers %v, want the foregroundDeletion finalizer", cur.DeletionTimestamp, cur.Finalizers)
	}
	waitGone(t, "deployment", func(ctx context.Context) error {
		_, err := cl.c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err
	})
	got := deletions.wait(t, append([]string{"Deployment/web", "ReplicaSet/" + rs.Name}, podKeys(pods)...))
	deploymentAt, rsAt := got["Deployment/web"], got["ReplicaSet/"+rs.Name]
	if rsAt >= deploymentAt {
		t.Errorf("replica set deleted at revision %d, not before the deployment (%d)", rsAt, deploymentAt)
	}
	for _, k := range podKeys(pods) {
		if got[k] >= rsAt {
			t.Errorf("%s deleted at revision %d, not before its replica set (%d)", k, got[k], rsAt)
		}
	}
	if left, err := cl.listPods(ctx, ns, ""); err != nil || len(left) != 0 {
		t.Errorf("pods left: %s (%v)", describePods(left), err)
	}
}

func podKeys(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, "Pod/"+p.Name)
	}
	return out
}
