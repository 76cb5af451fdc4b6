package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// waitFor polls cond until it holds or a second has passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestProcessNextWorkItem(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "p", errors.New("stale"))
	for _, tc := range []struct {
		name         string
		err          error
		wantRequeues int  // the rate limiter's failures for the key afterwards
		wantBack     bool // the key is queued again
	}{
		{"success is forgotten", nil, 0, false},
		{"failure backs off", errors.New("boom"), 2, true},
		{"conflict backs off", conflict, 2, true},
		{"requeue after resets the backoff", RequeueAfter(10 * time.Millisecond), 0, true},
		{"wrapped requeue after", fmt.Errorf("finalize: %w", RequeueAfter(10*time.Millisecond)), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue[string]("test")
			defer q.ShutDown()
			q.AddRateLimited("k") // one earlier failure, so Forget shows
			waitFor(t, "the key", func() bool { return q.Len() == 1 })
			calls := 0
			sync := func(_ context.Context, key string) error {
				calls++
				if key != "k" {
					t.Errorf("sync(%q), want k", key)
				}
				return tc.err
			}
			if !processNextWorkItem(t.Context(), q, sync, slog.Default()) {
				t.Fatal("processNextWorkItem = false on a live queue")
			}
			if calls != 1 {
				t.Fatalf("sync called %d times, want 1", calls)
			}
			if got := q.NumRequeues("k"); got != tc.wantRequeues {
				t.Fatalf("NumRequeues = %d, want %d", got, tc.wantRequeues)
			}
			if tc.wantBack {
				waitFor(t, "the key back", func() bool { return q.Len() == 1 })
			} else if q.Len() != 0 {
				t.Fatalf("queue holds %d keys, want none", q.Len())
			}
		})
	}
}

func TestProcessNextWorkItemShutDown(t *testing.T) {
	q := NewQueue[string]("test")
	q.ShutDown()
	sync := func(context.Context, string) error { t.Fatal("sync called"); return nil }
	if processNextWorkItem(t.Context(), q, sync, slog.Default()) {
		t.Fatal("processNextWorkItem = true on a shut down queue")
	}
}

func TestRunWorkers(t *testing.T) {
	q := NewQueue[int]("test")
	seen := make(chan int, 3)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunWorkers(ctx, "test", 2, q, func(_ context.Context, key int) error { seen <- key; return nil }, slog.Default(),
			func() bool { return true })
	}()
	for i := range 3 {
		q.Add(i)
	}
	got := map[int]bool{}
	for range 3 {
		select {
		case k := <-seen:
			got[k] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("synced %v, want keys 0..2", got)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWorkers did not return after ctx ended")
	}
	if !q.ShuttingDown() {
		t.Fatal("queue not shut down after RunWorkers returned")
	}
}

func TestEnqueueAndDeletedObject(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	tomb := cache.DeletedFinalStateUnknown{Key: "ns/gone", Obj: pod}
	for _, tc := range []struct {
		name    string
		obj     any
		wantKey string // "" for none
		wantPod bool
	}{
		{"namespaced", pod, "ns/p", true},
		{"cluster scoped", node, "n", false},
		{"tombstone", tomb, "ns/gone", true},
		{"tombstone of another kind", cache.DeletedFinalStateUnknown{Key: "n", Obj: node}, "n", false},
		{"no object", "junk", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue[string]("test")
			defer q.ShutDown()
			Enqueue(q, tc.obj)
			switch {
			case tc.wantKey == "" && q.Len() != 0:
				t.Fatalf("queued %d keys, want none", q.Len())
			case tc.wantKey != "":
				if key, _ := q.Get(); key != tc.wantKey {
					t.Fatalf("queued %q, want %q", key, tc.wantKey)
				}
			}
			p, ok := DeletedObject[*corev1.Pod](tc.obj)
			if ok != tc.wantPod || (ok && p != pod) {
				t.Fatalf("DeletedObject = %v, %v; want the pod: %v", p, ok, tc.wantPod)
			}
		})
	}
}
