package integration

import (
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

func TestDeletion(t *testing.T) {
	cp := start(t)
	ns := newNamespace(t, cp.Client, "deletion")
	t.Run("graceful pod", func(t *testing.T) { testGracefulPodDeletion(t, cp.Client, ns) })
	t.Run("unbound pod", func(t *testing.T) { testUnboundPodDeletion(t, cp.Client, ns) })
	t.Run("binding", func(t *testing.T) { testBinding(t, cp.Client, ns) })
	t.Run("finalizers", func(t *testing.T) { testFinalizers(t, cp.Client, ns) })
	t.Run("propagation", func(t *testing.T) { testPropagationFinalizers(t, cp.Client, ns) })
	t.Run("eviction", func(t *testing.T) { testEviction(t, cp.Client, ns) })
	t.Run("collection", func(t *testing.T) { testDeleteCollection(t, cp.Client, ns) })
	t.Run("response codes", func(t *testing.T) { testDeleteCodes(t, cp, ns) })
}

// testDeleteCodes checks upstream's DELETE answers: 200 with the object's
// last state, even when deletion is pending; 202 only when the client set
// orphanDependents=false and the object is still there.
func testDeleteCodes(t *testing.T, cp controlPlane, ns string) {
	boundPod(t, cp.Client, ns, "codes")
	resp := do(t, cp.Config, "DELETE", "/api/v1/namespaces/"+ns+"/pods/codes", nil)
	var pod corev1.Pod
	if err := json.Unmarshal(resp.body, &pod); err != nil || resp.code != 200 || pod.DeletionTimestamp == nil {
		t.Errorf("graceful DELETE of a pod: %d %v %.200s, want 200 and the pod being deleted", resp.code, err, resp.body)
	}
	for _, name := range []string{"codes-a", "codes-b"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: []string{"example.com/hold"}}}
		if _, err := cp.Client.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if resp := do(t, cp.Config, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/codes-a", nil); resp.code != 200 {
		t.Errorf("DELETE of an object with a finalizer: %d, want 200", resp.code)
	}
	if resp := do(t, cp.Config, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/codes-b?orphanDependents=false", nil); resp.code != 202 {
		t.Errorf("DELETE with orphanDependents=false of an object that stays: %d, want 202", resp.code)
	}
	// Deleting a batch/v1 job without a propagation policy orphans its pods,
	// and upstream warns about it.
	for _, name := range []string{"warned", "quiet"} {
		if _, err := cp.Client.BatchV1().Jobs(ns).Create(t.Context(), testJob(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	resp = do(t, cp.Config, "DELETE", "/apis/batch/v1/namespaces/"+ns+"/jobs/warned", nil)
	const warning = `299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"`
	if w := resp.header.Values("Warning"); resp.code != 200 || len(w) != 1 || w[0] != warning {
		t.Errorf("DELETE of a job: %d warnings %q, want 200 and %s", resp.code, w, warning)
	}
	resp = do(t, cp.Config, "DELETE", "/apis/batch/v1/namespaces/"+ns+"/jobs/quiet?propagationPolicy=Background", nil)
	if w := resp.header.Values("Warning"); resp.code != 200 || len(w) != 0 {
		t.Errorf("DELETE of a job with a policy: %d warnings %q, want 200 and none", resp.code, w)
	}
}

// boundPod creates a pod and binds it to node-1.
func boundPod(t *testing.T, c kubernetes.Interface, ns, name string) *corev1.Pod {
	t.Helper()
	ctx := t.Context()
	if _, err := c.CoreV1().Pods(ns).Create(ctx, testPod(name), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: name}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}
	if err := c.CoreV1().Pods(ns).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind %s: %v", name, err)
	}
	pod, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

func testGracefulPodDeletion(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	pods := c.CoreV1().Pods(ns)
	boundPod(t, c, ns, "graceful")
	if err := pods.Delete(ctx, "graceful", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := pods.Get(ctx, "graceful", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("a bound pod is gone right after a graceful delete: %v", err)
	}
	if pod.DeletionTimestamp == nil || pod.DeletionGracePeriodSeconds == nil || *pod.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("deleting pod: deletionTimestamp %v deletionGracePeriodSeconds %v, want set and 30", pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds)
	}
	// The first graceful deletion bumps the generation (upstream's BeforeDelete).
	if pod.Generation != 2 {
		t.Errorf("generation of a pod being deleted %d, want 2", pod.Generation)
	}
	if until := time.Until(pod.DeletionTimestamp.Time); until < 25*time.Second || until > 31*time.Second {
		t.Errorf("deletionTimestamp %v is %v away, want about 30s", pod.DeletionTimestamp, until)
	}
	// A longer grace period never extends a running one; a shorter one shortens it.
	if err := pods.Delete(ctx, "graceful", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(60))}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "graceful", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(10))}); err != nil {
		t.Fatal(err)
	}
	pod, err = pods.Get(ctx, "graceful", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *pod.DeletionGracePeriodSeconds != 10 {
		t.Errorf("deletionGracePeriodSeconds %d after deletes with 60 then 10, want 10", *pod.DeletionGracePeriodSeconds)
	}
	// Updates of a deleting pod cannot add finalizers.
	pod.Finalizers = append(pod.Finalizers, "example.com/late")
	_, err = pods.Update(ctx, pod, metav1.UpdateOptions{})
	wantStatus(t, err, 403, metav1.StatusReasonForbidden)
	// The kubelet's final delete with grace period 0 removes it.
	if err := pods.Delete(ctx, "graceful", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "graceful", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after a zero grace period delete: %v, want NotFound", err)
	}
}

func testUnboundPodDeletion(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	pods := c.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, testPod("unbound"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "unbound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "unbound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("an unscheduled pod should be deleted at once: %v", err)
	}
	// So is a finished pod, even if bound.
	pod := boundPod(t, c, ns, "finished")
	pod.Status.Phase = corev1.PodSucceeded
	if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "finished", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "finished", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a succeeded pod should be deleted at once: %v", err)
	}
}

func testBinding(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	pod := boundPod(t, c, ns, "bound")
	if pod.Spec.NodeName != "node-1" {
		t.Errorf("bound pod nodeName %q, want node-1", pod.Spec.NodeName)
	}
	scheduled := false
	for _, cond := range pod.Status.Conditions {
		scheduled = scheduled || (cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionTrue)
	}
	if !scheduled {
		t.Errorf("bound pod conditions %+v lack PodScheduled=True", pod.Status.Conditions)
	}
	// Binding is not a spec update: the generation stays.
	if pod.Generation != 1 {
		t.Errorf("generation after binding %d, want 1", pod.Generation)
	}
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-2"}}
	err := c.CoreV1().Pods(ns).Bind(ctx, b, metav1.CreateOptions{})
	wantStatus(t, err, 409, metav1.StatusReasonConflict)
	b.Name = "no-such-pod"
	err = c.CoreV1().Pods(ns).Bind(ctx, b, metav1.CreateOptions{})
	wantStatus(t, err, 404, metav1.StatusReasonNotFound)
	// A pod with scheduling gates cannot be bound.
	gated := testPod("gated")
	gated.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, gated, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b = &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "gated"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}
	err = c.CoreV1().Pods(ns).Bind(ctx, b, metav1.CreateOptions{})
	wantStatus(t, err, 409, metav1.StatusReasonConflict)
	// Updates may not move a pod to another node.
	pod.Spec.NodeName = "node-2"
	_, err = c.CoreV1().Pods(ns).Update(ctx, pod, metav1.UpdateOptions{})
	wantStatus(t, err, 422, metav1.StatusReasonInvalid)
}

func testFinalizers(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	cms := c.CoreV1().ConfigMaps(ns)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "final", Finalizers: []string{"example.com/a", "example.com/b"}}}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "final", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(ctx, "final", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("an object with finalizers is gone after delete: %v", err)
	}
	if got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 0 {
		t.Fatalf("deleting object: deletionTimestamp %v grace %v, want set and 0", got.DeletionTimestamp, got.DeletionGracePeriodSeconds)
	}
	// A second delete changes nothing.
	if err := cms.Delete(ctx, "final", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again, err := cms.Get(ctx, "final", metav1.GetOptions{})
	if err != nil || again.ResourceVersion != got.ResourceVersion {
		t.Errorf("a repeated delete changed the object: %v rv %s -> %s", err, got.ResourceVersion, again.ResourceVersion)
	}
	if _, err := cms.Patch(ctx, "final", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers/0"}]`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "final", metav1.GetOptions{}); err != nil {
		t.Fatalf("object gone with a finalizer left: %v", err)
	}
	if _, err := cms.Patch(ctx, "final", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "final", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("object still there once its last finalizer was removed: %v", err)
	}
}

func testPropagationFinalizers(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	deps := c.AppsV1().Deployments(ns)
	for _, tc := range []struct {
		name      string
		policy    metav1.DeletionPropagation
		finalizer string
	}{
		{"prop-fg", metav1.DeletePropagationForeground, metav1.FinalizerDeleteDependents},
		{"prop-orphan", metav1.DeletePropagationOrphan, metav1.FinalizerOrphanDependents},
	} {
		name := tc.name
		if _, err := deps.Create(ctx, testDeployment(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := deps.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &tc.policy}); err != nil {
			t.Fatal(err)
		}
		got, err := deps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: deployment gone at once: %v", tc.policy, err)
		}
		if got.DeletionTimestamp == nil || len(got.Finalizers) != 1 || got.Finalizers[0] != tc.finalizer {
			t.Errorf("%s: finalizers %v deletionTimestamp %v, want [%s] and set", tc.policy, got.Finalizers, got.DeletionTimestamp, tc.finalizer)
		}
	}
	// Background deletes at once.
	if _, err := deps.Create(ctx, testDeployment("prop-bg"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := deps.Delete(ctx, "prop-bg", metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground)}); err != nil {
		t.Fatal(err)
	}
	if _, err := deps.Get(ctx, "prop-bg", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("background delete: %v, want NotFound", err)
	}
	err := deps.Delete(ctx, "prop-bg", metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletionPropagation("Sideways"))})
	wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
}

func testEviction(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	pods := c.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, testPod("evict-me"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evict-me", Namespace: ns}}
	if err := pods.EvictV1(ctx, ev); err != nil {
		t.Fatalf("evict: %v", err)
	}
	if _, err := pods.Get(ctx, "evict-me", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("evicted unbound pod still there: %v", err)
	}
	boundPod(t, c, ns, "evict-bound")
	ev.Name = "evict-bound"
	ev.DeleteOptions = &metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(5))}
	if err := pods.EvictV1(ctx, ev); err != nil {
		t.Fatalf("evict bound pod: %v", err)
	}
	pod, err := pods.Get(ctx, "evict-bound", metav1.GetOptions{})
	if err != nil || pod.DeletionTimestamp == nil || *pod.DeletionGracePeriodSeconds != 5 {
		t.Errorf("evicted bound pod: %v %+v, want deleting with grace 5", err, pod)
	}
	ev.Name = "missing"
	err = pods.EvictV1(ctx, ev)
	wantStatus(t, err, 404, metav1.StatusReasonNotFound)
}

func testDeleteCollection(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	cms := c.CoreV1().ConfigMaps(ns)
	for _, name := range []string{"dc-a", "dc-b", "dc-keep"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"group": name[:4]}}}
		if name == "dc-keep" {
			cm.Labels["group"] = "keep"
		}
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "group=dc-a"}); err != nil {
		t.Fatal(err)
	}
	if err := cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "group=dc-b"}); err != nil {
		t.Fatal(err)
	}
	list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "group"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "dc-keep" {
		var names []string
		for _, it := range list.Items {
			names = append(names, it.Name)
		}
		t.Errorf("after deletecollection: %v, want [dc-keep]", names)
	}
}
