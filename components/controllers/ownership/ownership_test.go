package ownership

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func TestSlowStartBatch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		count     int
		failAfter int32
		wantOK    int
		wantCalls int32
	}{
		{"all succeed", 10, 100, 10, 10},
		{"first fails", 10, 0, 0, 1},
		{"fails in third batch", 10, 4, 4, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			ok, err := SlowStartBatch(tc.count, 1, func() error {
				if calls.Add(1) > tc.failAfter {
					return errors.New("boom")
				}
				return nil
			})
			if ok != tc.wantOK || calls.Load() != tc.wantCalls || (err == nil) != (tc.wantOK == tc.count) {
				t.Fatalf("ok=%d calls=%d err=%v", ok, calls.Load(), err)
			}
		})
	}
}

func TestClaim(t *testing.T) {
	owner := Owner{Object: &metav1.ObjectMeta{Name: "rs", Namespace: "ns", UID: "u1"}, GVK: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}}
	ref := owner.Ref()
	other := ref
	other.UID = "u2"
	pod := func(name string, lbl string, refs ...metav1.OwnerReference) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("p-" + name), Labels: map[string]string{"app": lbl}, OwnerReferences: refs}}
	}
	pods := []*corev1.Pod{
		pod("mine", "a", ref), pod("orphan", "a"), pod("theirs", "a", other), pod("stray", "b", ref), pod("unrelated", "b"),
	}
	var patched []string
	claimed, err := Claim(context.Background(), owner, labels.SelectorFromSet(labels.Set{"app": "a"}), pods,
		func(_ context.Context, _, name string, _ []byte) error { patched = append(patched, name); return nil })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range claimed {
		names = append(names, p.Name)
	}
	if len(names) != 2 || names[0] != "mine" || names[1] != "orphan" {
		t.Fatalf("claimed %v", names)
	}
	if len(patched) != 2 || patched[0] != "orphan" || patched[1] != "stray" {
		t.Fatalf("patched %v (want adopt orphan, release stray)", patched)
	}
}

func TestExpectations(t *testing.T) {
	e := NewExpectations()
	if !e.Satisfied("k") {
		t.Fatal("empty must be satisfied")
	}
	e.Expect("k", 2, 0)
	e.Observed("k", true)
	if e.Satisfied("k") {
		t.Fatal("one create outstanding")
	}
	e.Observed("k", true)
	if !e.Satisfied("k") {
		t.Fatal("all observed")
	}
}
