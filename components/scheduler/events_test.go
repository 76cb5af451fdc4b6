package scheduler

import (
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type recordingSink struct {
	mu       sync.Mutex
	created  []string
	patched  []string
	patchErr error
}

func (r *recordingSink) Create(e *corev1.Event) (*corev1.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created = append(r.created, e.Name)
	return e, nil
}

func (r *recordingSink) Update(e *corev1.Event) (*corev1.Event, error) { return e, nil }

func (r *recordingSink) Patch(e *corev1.Event, _ []byte) (*corev1.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.patched = append(r.patched, e.Name)
	return e, r.patchErr
}

func (r *recordingSink) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.created), len(r.patched)
}

func TestAsyncSink(t *testing.T) {
	tests := []struct {
		name                     string
		patchErr                 error
		wantCreated, wantPatched int
	}{
		{"patch succeeds", nil, 1, 1},
		{"patch of a vanished event creates it", errors.New("not found"), 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &recordingSink{patchErr: tt.patchErr}
			a := newAsyncSink(inner, slog.Default())
			go a.run(t.Context(), 2)
			e := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default"}}
			if got, err := a.Create(e); err != nil || got != e {
				t.Fatalf("Create returned %v, %v", got, err)
			}
			if _, err := a.Patch(e, []byte("{}")); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				c, p := inner.counts()
				if c == tt.wantCreated && p == tt.wantPatched {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("created %d patched %d, want %d and %d", c, p, tt.wantCreated, tt.wantPatched)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestAsyncSinkDropsWhenFull(t *testing.T) {
	a := newAsyncSink(&recordingSink{}, slog.Default())
	// No workers: the queue fills and further events are dropped.
	for range cap(a.work) + 10 {
		_, _ = a.Create(&corev1.Event{})
	}
	if got := a.dropped.Load(); got != 10 {
		t.Fatalf("dropped %d, want 10", got)
	}
}
