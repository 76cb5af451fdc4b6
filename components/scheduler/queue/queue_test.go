package queue

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time       { return c.t }
func (c *fakeClock) Step(d time.Duration) { c.t = c.t.Add(d) }
func newTestQueue() (*Queue, *fakeClock) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	return New(Options{Now: c.Now}), c
}

func testPod(name string, prio int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)},
		Spec:       corev1.PodSpec{Priority: &prio},
	}
}

func pop(t *testing.T, q *Queue) *QueuedPod {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	qp, err := q.Pop(ctx)
	if err != nil {
		t.Fatalf("pop: %v", err)
	}
	return qp
}

func TestBackoffDuration(t *testing.T) {
	q, _ := newTestQueue()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := q.BackoffDuration(i + 1); got != w {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w)
		}
	}
}

func TestPopOrder(t *testing.T) {
	q, clock := newTestQueue()
	q.Add(testPod("low", 0))
	clock.Step(time.Millisecond)
	q.Add(testPod("high", 10))
	clock.Step(time.Millisecond)
	q.Add(testPod("low2", 0))
	for _, want := range []string{"high", "low", "low2"} {
		if got := pop(t, q).Pod.Name; got != want {
			t.Fatalf("popped %s, want %s", got, want)
		}
	}
}

func TestUnschedulableMovedOnEventAfterBackoff(t *testing.T) {
	q, clock := newTestQueue()
	q.Add(testPod("p", 0))
	qp := pop(t, q)
	q.Requeue(qp, true)
	if a, b, u := q.Lengths(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("after failure: active %d backoff %d unschedulable %d", a, b, u)
	}
	// An event during the backoff moves the pod to the backoff queue.
	q.MoveAll(nil)
	if a, b, u := q.Lengths(); a != 0 || b != 1 || u != 0 {
		t.Fatalf("after event: active %d backoff %d unschedulable %d", a, b, u)
	}
	clock.Step(999 * time.Millisecond)
	q.FlushBackoff()
	if a, _, _ := q.Lengths(); a != 0 {
		t.Fatal("backoff flushed too early")
	}
	clock.Step(time.Millisecond)
	q.FlushBackoff()
	if got := pop(t, q); got.Attempts != 2 {
		t.Fatalf("attempts %d, want 2", got.Attempts)
	}
}

func TestEventAfterBackoffGoesActive(t *testing.T) {
	q, clock := newTestQueue()
	q.Add(testPod("p", 0))
	q.Requeue(pop(t, q), true)
	clock.Step(2 * time.Second)
	q.MoveAll(nil)
	if a, b, u := q.Lengths(); a != 1 || b != 0 || u != 0 {
		t.Fatalf("active %d backoff %d unschedulable %d", a, b, u)
	}
}

func TestMoveDuringAttemptSkipsUnschedulablePool(t *testing.T) {
	q, _ := newTestQueue()
	q.Add(testPod("p", 0))
	qp := pop(t, q)
	q.MoveAll(nil) // e.g. a node was added while the pod was being scheduled
	q.Requeue(qp, true)
	if a, b, u := q.Lengths(); a+b != 1 || u != 0 {
		t.Fatalf("active %d backoff %d unschedulable %d", a, b, u)
	}
}

func TestMoveAllFilter(t *testing.T) {
	q, clock := newTestQueue()
	q.Add(testPod("a", 0))
	q.Add(testPod("b", 0))
	q.Requeue(pop(t, q), true)
	q.Requeue(pop(t, q), true)
	clock.Step(time.Minute)
	q.MoveAll(func(qp *QueuedPod) bool { return qp.Pod.Name == "b" })
	if a, _, u := q.Lengths(); a != 1 || u != 1 {
		t.Fatalf("active %d unschedulable %d", a, u)
	}
}

func TestUpdateAndDeleteWhileInFlight(t *testing.T) {
	q, _ := newTestQueue()
	p := testPod("p", 0)
	q.Add(p)
	qp := pop(t, q)
	updated := p.DeepCopy()
	updated.Labels = map[string]string{"changed": "yes"}
	q.Update(p, updated)
	q.Requeue(qp, true)
	if a, b, u := q.Lengths(); a+b != 1 || u != 0 {
		t.Fatalf("updated in flight: active %d backoff %d unschedulable %d", a, b, u)
	}
	q.Delete(p.UID)
	if a, b, u := q.Lengths(); a+b+u != 0 {
		t.Fatalf("after delete: active %d backoff %d unschedulable %d", a, b, u)
	}

	q.Add(p)
	qp = pop(t, q)
	q.Delete(p.UID)
	q.Requeue(qp, true)
	if a, b, u := q.Lengths(); a+b+u != 0 {
		t.Fatalf("deleted in flight was requeued: active %d backoff %d unschedulable %d", a, b, u)
	}
}

func TestStatusOnlyUpdateKeepsPodParked(t *testing.T) {
	q, _ := newTestQueue()
	p := testPod("p", 0)
	q.Add(p)
	q.Requeue(pop(t, q), true)
	withCondition := p.DeepCopy()
	withCondition.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
	q.Update(p, withCondition)
	if _, _, u := q.Lengths(); u != 1 {
		t.Fatal("status-only update moved the pod")
	}
	relabeled := withCondition.DeepCopy()
	relabeled.Labels = map[string]string{"a": "b"}
	q.Update(withCondition, relabeled)
	if _, _, u := q.Lengths(); u != 0 {
		t.Fatal("spec/metadata update did not move the pod")
	}
}

func TestUnschedulableLeftover(t *testing.T) {
	q, clock := newTestQueue()
	q.Add(testPod("p", 0))
	q.Requeue(pop(t, q), true)
	clock.Step(4 * time.Minute)
	q.FlushUnschedulableLeftover()
	if _, _, u := q.Lengths(); u != 1 {
		t.Fatal("flushed too early")
	}
	clock.Step(2 * time.Minute)
	q.FlushUnschedulableLeftover()
	if a, _, u := q.Lengths(); a != 1 || u != 0 {
		t.Fatal("not flushed after 5 minutes")
	}
}

func TestPopUnblocksOnCancel(t *testing.T) {
	q, _ := newTestQueue()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := q.Pop(ctx)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if err != ErrClosed {
			t.Fatalf("err %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pop did not return after cancel")
	}
}
