package pods

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWorkers(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	syncs := map[types.UID]int{}
	var running, maxRunning atomic.Int32
	done := map[types.UID]bool{}
	w := NewWorkers(ctx, func(_ context.Context, uid types.UID) (time.Duration, bool) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		syncs[uid]++
		if uid == "timer" && syncs[uid] < 3 {
			return 10 * time.Millisecond, false
		}
		return 0, done[uid]
	})
	// Updates while a sync runs coalesce into one more sync.
	for range 5 {
		w.Update("a")
	}
	w.Update("b")
	w.Update("timer")
	waitFor(t, "timer pod resynced twice on its own", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return syncs["timer"] == 3
	})
	mu.Lock()
	if syncs["a"] > 2 || syncs["a"] < 1 {
		t.Errorf("pod a synced %d times for 5 quick updates", syncs["a"])
	}
	done["b"] = true
	mu.Unlock()
	if maxRunning.Load() < 2 {
		t.Error("pods did not sync in parallel")
	}
	w.Update("b")
	waitFor(t, "worker of b gone", func() bool {
		for _, uid := range w.Active() {
			if uid == "b" {
				return false
			}
		}
		return true
	})
	cancel()
	w.Wait()
}

func TestManager(t *testing.T) {
	var mu sync.Mutex
	var changed []types.UID
	m := NewManager(func(uid types.UID) {
		mu.Lock()
		changed = append(changed, uid)
		mu.Unlock()
	})
	api := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "a1"}}
	static := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "etcd-n1", Namespace: "kube-system", UID: "s1", ResourceVersion: "s1",
		Annotations: map[string]string{AnnotationConfigSource: "file", AnnotationConfigHash: "s1"}}}
	mirror := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "etcd-n1", Namespace: "kube-system", UID: "m1",
		Annotations: map[string]string{AnnotationConfigMirror: "s1"}}}
	m.SetAPIPod(api)
	m.SetStaticPods([]*corev1.Pod{static})
	m.SetAPIPod(mirror)
	if _, ok := m.Get("m1"); ok {
		t.Error("a mirror pod is run")
	}
	if got := m.Mirror(static); got == nil || got.UID != "m1" {
		t.Errorf("mirror = %v", got)
	}
	if p, ok := m.ByName("kube-system", "etcd-n1"); !ok || p.UID != "s1" {
		t.Errorf("ByName finds %v", p)
	}
	if !IsStatic(static) || IsStatic(api) || !IsMirror(mirror) {
		t.Error("IsStatic/IsMirror")
	}
	m.SetStaticPods([]*corev1.Pod{static}) // unchanged: no notification
	m.DeleteAPIPod(api)
	m.SetStaticPods(nil)
	mu.Lock()
	defer mu.Unlock()
	want := []types.UID{"a1", "s1", "s1", "a1", "s1"}
	if len(changed) != len(want) {
		t.Fatalf("notified %v, want %v", changed, want)
	}
	for i := range want {
		if changed[i] != want[i] {
			t.Fatalf("notified %v, want %v", changed, want)
		}
	}
	if len(m.UIDs()) != 0 {
		t.Errorf("pods left: %v", m.UIDs())
	}
}
