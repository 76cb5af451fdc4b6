package integration

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestBindingKeepsManagedFields checks that pods/binding, as upstream's
// BindingREST, writes the pod without the field manager: the binder does
// not become a manager of the pod and the entries stay as they were.
func TestBindingKeepsManagedFields(t *testing.T) {
	cp := start(t)
	ns := newNamespace(t, cp.Client, "binding-fields")
	ctx := t.Context()
	pods := cp.Client.CoreV1().Pods(ns)
	created, err := pods.Create(ctx, testPod("p"), metav1.CreateOptions{FieldManager: "creator"})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.ManagedFields) == 0 {
		t.Fatalf("created pod has no managedFields")
	}
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: "p", UID: created.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: "node-1"},
	}
	if err := pods.Bind(ctx, b, metav1.CreateOptions{FieldManager: "binder"}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	bound, err := pods.Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bound.Spec.NodeName != "node-1" {
		t.Fatalf("nodeName %q after binding, want node-1", bound.Spec.NodeName)
	}
	if bound.ResourceVersion == created.ResourceVersion {
		t.Fatalf("binding did not write the pod (resourceVersion %s unchanged)", bound.ResourceVersion)
	}
	if !equality.Semantic.DeepEqual(bound.ManagedFields, created.ManagedFields) {
		t.Errorf("managedFields changed by the binding:\n got %+v\nwant %+v", bound.ManagedFields, created.ManagedFields)
	}
	for _, e := range bound.ManagedFields {
		if e.Manager == "binder" {
			t.Errorf("the binder became a field manager: %+v", e)
		}
	}
}
