package integration

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestConflicts(t *testing.T) {
	cp := start(t)
	ctx := t.Context()
	ns := newNamespace(t, cp.Client, "conflicts")
	cms := cp.Client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"v": "0"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("stale resourceVersion", func(t *testing.T) {
		stale := cm.DeepCopy()
		cm.Data["v"] = "1"
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		stale.Data["v"] = "stale"
		_, err := cms.Update(ctx, stale, metav1.UpdateOptions{})
		se := wantStatus(t, err, 409, metav1.StatusReasonConflict)
		if !strings.Contains(se.ErrStatus.Message, "the object has been modified; please apply your changes to the latest version and try again") {
			t.Errorf("conflict message %q", se.ErrStatus.Message)
		}
		if d := se.ErrStatus.Details; d == nil || d.Name != "cm" || d.Kind != "configmaps" {
			t.Errorf("conflict details %+v, want configmaps cm", d)
		}
		// A patch or delete guarded by a stale resourceVersion conflicts too.
		patch := fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"data":{"v":"patched"}}`, stale.ResourceVersion)
		_, err = cms.Patch(ctx, "cm", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		wantStatus(t, err, 409, metav1.StatusReasonConflict)
		err = cms.Delete(ctx, "cm", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &stale.ResourceVersion}})
		wantStatus(t, err, 409, metav1.StatusReasonConflict)
		err = cms.Delete(ctx, "cm", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr(types.UID("not-the-uid"))}})
		wantStatus(t, err, 409, metav1.StatusReasonConflict)
	})

	t.Run("concurrent writers", func(t *testing.T) {
		const n = 20
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range n {
			wg.Add(2)
			go func() {
				defer wg.Done()
				// Unconditional updates (no resourceVersion) never conflict.
				cur, err := cms.Get(ctx, "cm", metav1.GetOptions{})
				if err != nil {
					errs <- err
					return
				}
				cur.ResourceVersion = ""
				cur.Data["writer"] = fmt.Sprint(i)
				if _, err := cms.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
					errs <- fmt.Errorf("unconditional update %d: %w", i, err)
				}
			}()
			go func() {
				defer wg.Done()
				// Patches without a resourceVersion are retried on conflicts.
				patch := fmt.Sprintf(`{"metadata":{"labels":{"p%d":"x"}}}`, i)
				if _, err := cms.Patch(ctx, "cm", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
					errs <- fmt.Errorf("patch %d: %w", i, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// Unconditional updates may drop what a concurrent patch added (last
		// write wins); all that matters is that none of them failed.
	})

	t.Run("concurrent patches keep every change", func(t *testing.T) {
		const n = 30
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				patch := fmt.Sprintf(`{"data":{"k%d":"v"}}`, i)
				if _, err := cms.Patch(ctx, "cm", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
					t.Errorf("patch %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		got, err := cms.Get(ctx, "cm", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if got.Data[fmt.Sprintf("k%d", i)] != "v" {
				t.Errorf("patch %d lost: data %v", i, got.Data)
				break
			}
		}
	})

	t.Run("create twice", func(t *testing.T) {
		_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{})
		se := wantStatus(t, err, 409, metav1.StatusReasonAlreadyExists)
		if se.ErrStatus.Message != `configmaps "cm" already exists` {
			t.Errorf("already exists message %q", se.ErrStatus.Message)
		}
	})
}
