package integration

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestUpdateRules(t *testing.T) {
	cp := start(t)
	ctx := t.Context()
	ns := newNamespace(t, cp.Client, "updates")
	c := cp.Client

	t.Run("PUT creates where upstream allows it", func(t *testing.T) {
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "put-created"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("me")}}
		got, err := c.CoordinationV1().Leases(ns).Update(ctx, lease, metav1.UpdateOptions{})
		if err != nil || got.UID == "" {
			t.Errorf("PUT of a new lease: %v", err)
		}
		resp := do(t, cp.Config, "PUT", "/api/v1/namespaces/"+ns+"/services/put-svc",
			[]byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"put-svc"},"spec":{"ports":[{"port":80}]}}`))
		if resp.code != 201 {
			t.Errorf("PUT of a new service: %d %s, want 201", resp.code, resp.body)
		}
		_, err = c.CoreV1().ConfigMaps(ns).Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "put-cm"}}, metav1.UpdateOptions{})
		wantStatus(t, err, 404, metav1.StatusReasonNotFound)
		// A resourceVersion on a PUT that would create is a conflict-free 404.
		lease2 := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "put-rv", ResourceVersion: "5"}}
		if _, err := c.CoordinationV1().Leases(ns).Update(ctx, lease2, metav1.UpdateOptions{}); err == nil {
			t.Errorf("PUT with a resourceVersion of a missing lease succeeded")
		}
	})

	t.Run("immutable fields", func(t *testing.T) {
		cm, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "frozen"},
			Data: map[string]string{"a": "1"}, Immutable: ptr(true)}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data["a"] = "2"
		_, err = c.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
		se := wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		if !hasCause(se, "data") {
			t.Errorf("immutable configmap causes %+v", se.ErrStatus.Details)
		}

		d, err := c.AppsV1().Deployments(ns).Create(ctx, testDeployment("selector"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Spec.Selector.MatchLabels["app"] = "other"
		d.Spec.Template.Labels["app"] = "other"
		_, err = c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		se = wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		if !hasCause(se, "spec.selector") {
			t.Errorf("deployment selector change causes %+v", se.ErrStatus.Details)
		}

		pod, err := c.CoreV1().Pods(ns).Create(ctx, testPod("frozen"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pod.Spec.Containers[0].Image = "busybox:1.36" // allowed
		if pod, err = c.CoreV1().Pods(ns).Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("pod image update: %v", err)
		}
		if pod.Generation != 2 {
			t.Errorf("pod generation after an image change %d, want 2", pod.Generation)
		}
		pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "1"}} // not allowed
		_, err = c.CoreV1().Pods(ns).Update(ctx, pod, metav1.UpdateOptions{})
		se = wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		if !hasCause(se, "spec") {
			t.Errorf("pod spec change causes %+v", se.ErrStatus.Details)
		}

		job, err := c.BatchV1().Jobs(ns).Create(ctx, testJob("frozen"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		job.Spec.Template.Spec.Containers[0].Image = "busybox:2"
		_, err = c.BatchV1().Jobs(ns).Update(ctx, job, metav1.UpdateOptions{})
		se = wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		if !hasCause(se, "spec.template") {
			t.Errorf("job template change causes %+v", se.ErrStatus.Details)
		}
	})

	t.Run("system metadata is kept", func(t *testing.T) {
		cm, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "meta"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		changed := cm.DeepCopy()
		changed.CreationTimestamp = metav1.NewTime(time.Unix(1000, 0))
		changed.Generation = 42
		got, err := c.CoreV1().ConfigMaps(ns).Update(ctx, changed, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreationTimestamp.Equal(&cm.CreationTimestamp) || got.UID != cm.UID {
			t.Errorf("update changed system metadata: %v %s", got.CreationTimestamp, got.UID)
		}
		changed = got.DeepCopy()
		changed.UID = types.UID("00000000-0000-0000-0000-000000000000")
		_, err = c.CoreV1().ConfigMaps(ns).Update(ctx, changed, metav1.UpdateOptions{})
		wantStatus(t, err, 409, metav1.StatusReasonConflict)
		// A delete of a missing object is 404, of a deleted one too.
		if err := c.CoreV1().ConfigMaps(ns).Delete(ctx, "meta", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.CoreV1().ConfigMaps(ns).Delete(ctx, "meta", metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("second delete: %v, want NotFound", err)
		}
	})
}
