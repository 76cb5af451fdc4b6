// Package queue is the scheduling queue, modelled on upstream's
// PriorityQueue: an active queue (highest priority, then oldest, first), a
// backoff queue of pods waiting out their backoff after a failed attempt
// (initial backoff doubling per attempt up to a maximum), and a pool of
// unschedulable pods that cluster events move back to be retried.
package queue

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelab/kubelab/components/scheduler/framework"
)

// ErrClosed is returned by Pop once the queue is closed.
var ErrClosed = errors.New("scheduling queue closed")

// QueuedPod is a pod waiting to be scheduled.
type QueuedPod struct {
	Pod *corev1.Pod
	// Info is the pod's precomputed view; nil until the scheduler builds it
	// (and again after the pod changes).
	Info *framework.PodInfo
	// Attempts counts scheduling attempts (Pop increments it).
	Attempts int
	// Timestamp is when the pod last entered the active queue.
	Timestamp time.Time
	// InitialAttempt is when the pod was first popped.
	InitialAttempt time.Time

	lastFailure time.Time
	cycle       int64
	index       int
}

// inFlight tracks a popped pod until Done or Requeue: the latest version
// seen meanwhile, or that it was deleted.
type inFlight struct {
	latest  *corev1.Pod
	deleted bool
}

// Options tune the queue; zero values take upstream's defaults.
type Options struct {
	InitialBackoff time.Duration // 1s
	MaxBackoff     time.Duration // 10s
	// MaxUnschedulable is how long a pod stays unschedulable before it is
	// retried without any event (5m).
	MaxUnschedulable time.Duration
	Now              func() time.Time
}

// Queue is the scheduling queue; it is safe for concurrent use.
type Queue struct {
	mu   sync.Mutex
	cond *sync.Cond
	opts Options

	active, backoff *podHeap
	unschedulable   map[types.UID]*QueuedPod
	inFlight        map[types.UID]*inFlight
	// cycle counts pops; moveCycle is the cycle of the last move request.
	// A pod that fails in a cycle older than a move request is retried
	// after its backoff rather than parked as unschedulable, since the
	// event may have made it schedulable.
	cycle, moveCycle int64
	closed           bool
}

// New returns an empty queue.
func New(o Options) *Queue {
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.MaxUnschedulable <= 0 {
		o.MaxUnschedulable = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	q := &Queue{opts: o, unschedulable: map[types.UID]*QueuedPod{}, inFlight: map[types.UID]*inFlight{}}
	q.cond = sync.NewCond(&q.mu)
	q.active = newPodHeap(func(a, b *QueuedPod) bool {
		pa, pb := priority(a.Pod), priority(b.Pod)
		if pa != pb {
			return pa > pb
		}
		return a.Timestamp.Before(b.Timestamp)
	})
	q.backoff = newPodHeap(func(a, b *QueuedPod) bool { return q.backoffExpiry(a).Before(q.backoffExpiry(b)) })
	return q
}

func priority(pod *corev1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}

// Run flushes pods whose backoff expired and pods unschedulable for too
// long, until ctx ends; then it closes the queue.
func (q *Queue) Run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	leftover := time.NewTicker(30 * time.Second)
	defer leftover.Stop()
	for {
		select {
		case <-ctx.Done():
			q.Close()
			return
		case <-tick.C:
			q.FlushBackoff()
		case <-leftover.C:
			q.FlushUnschedulableLeftover()
		}
	}
}

// Close wakes Pop callers with ErrClosed.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// Add queues a new pending pod (or updates it if known).
func (q *Queue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.updateLocked(nil, pod) {
		return
	}
	q.pushActiveLocked(&QueuedPod{Pod: pod})
}

// Update records a new version of a pending pod. A pod parked as
// unschedulable whose spec or metadata changed is retried.
func (q *Queue) Update(old, pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.updateLocked(old, pod) {
		return
	}
	q.pushActiveLocked(&QueuedPod{Pod: pod})
}

// updateLocked replaces the pod wherever it is and reports whether it was
// known.
func (q *Queue) updateLocked(old, pod *corev1.Pod) bool {
	uid := pod.UID
	if f, ok := q.inFlight[uid]; ok {
		f.latest = pod
		return true
	}
	if qp := q.active.get(uid); qp != nil {
		q.replace(qp, pod)
		q.active.fix(qp)
		return true
	}
	if qp := q.backoff.get(uid); qp != nil {
		q.replace(qp, pod)
		return true
	}
	if qp, ok := q.unschedulable[uid]; ok {
		changed := old == nil || Changed(old, pod)
		q.replace(qp, pod)
		if changed {
			delete(q.unschedulable, uid)
			q.moveLocked(qp)
		}
		return true
	}
	return false
}

func (q *Queue) replace(qp *QueuedPod, pod *corev1.Pod) {
	if qp.Pod != pod && Changed(qp.Pod, pod) {
		qp.Info = nil
	}
	qp.Pod = pod
}

// Changed reports whether a pod changed in what scheduling reads: its spec
// or labels, annotations, owners or deletion (status alone is not).
func Changed(old, pod *corev1.Pod) bool {
	return !equality.Semantic.DeepEqual(old.Spec, pod.Spec) ||
		!equality.Semantic.DeepEqual(old.Labels, pod.Labels) ||
		!equality.Semantic.DeepEqual(old.Annotations, pod.Annotations) ||
		!equality.Semantic.DeepEqual(old.OwnerReferences, pod.OwnerReferences) ||
		(old.DeletionTimestamp == nil) != (pod.DeletionTimestamp == nil)
}

// Delete forgets a pod that was deleted or bound.
func (q *Queue) Delete(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if f, ok := q.inFlight[uid]; ok {
		f.deleted = true
	}
	q.active.remove(uid)
	q.backoff.remove(uid)
	delete(q.unschedulable, uid)
}

// Pop blocks until a pod is active and returns it; the pod is in flight
// until Done or Requeue.
func (q *Queue) Pop(ctx context.Context) (*QueuedPod, error) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.cond.Broadcast()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed && ctx.Err() == nil {
		q.cond.Wait()
	}
	if q.closed || ctx.Err() != nil {
		return nil, ErrClosed
	}
	qp := q.active.pop()
	q.cycle++
	qp.cycle = q.cycle
	qp.Attempts++
	if qp.InitialAttempt.IsZero() {
		qp.InitialAttempt = q.opts.Now()
	}
	q.inFlight[qp.Pod.UID] = &inFlight{}
	return qp, nil
}

// Done ends a pod's flight after it was bound (or abandoned).
func (q *Queue) Done(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, uid)
}

// Requeue returns a pod after a failed attempt. An unschedulable pod is
// parked until a cluster event moves it, unless an event arrived during its
// attempt or it changed meanwhile; other failures (API errors) and those
// go to the backoff queue. A pod deleted meanwhile is dropped.
func (q *Queue) Requeue(qp *QueuedPod, unschedulable bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	uid := qp.Pod.UID
	f := q.inFlight[uid]
	delete(q.inFlight, uid)
	if f != nil && f.deleted {
		return
	}
	if q.active.get(uid) != nil || q.backoff.get(uid) != nil || q.unschedulable[uid] != nil {
		return
	}
	changed := false
	if f != nil && f.latest != nil {
		changed = Changed(qp.Pod, f.latest)
		q.replace(qp, f.latest)
	}
	qp.lastFailure = q.opts.Now()
	if unschedulable && !changed && q.moveCycle < qp.cycle {
		q.unschedulable[uid] = qp
		return
	}
	q.moveLocked(qp)
}

// MoveAll moves the unschedulable pods matching filter (nil: all) to be
// retried, after their backoff if it has not expired.
func (q *Queue) MoveAll(filter func(*QueuedPod) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for uid, qp := range q.unschedulable {
		if filter == nil || filter(qp) {
			delete(q.unschedulable, uid)
			q.moveLocked(qp)
		}
	}
	q.moveCycle = q.cycle
}

// FlushBackoff moves pods whose backoff expired to the active queue.
func (q *Queue) FlushBackoff() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Now()
	for {
		qp := q.backoff.peek()
		if qp == nil || q.backoffExpiry(qp).After(now) {
			return
		}
		q.backoff.pop()
		q.pushActiveLocked(qp)
	}
}

// FlushUnschedulableLeftover retries pods unschedulable for longer than
// MaxUnschedulable.
func (q *Queue) FlushUnschedulableLeftover() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Now()
	for uid, qp := range q.unschedulable {
		if now.Sub(qp.lastFailure) > q.opts.MaxUnschedulable {
			delete(q.unschedulable, uid)
			q.moveLocked(qp)
		}
	}
}

// Lengths returns the sizes of the active and backoff queues and of the
// unschedulable pool.
func (q *Queue) Lengths() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}

// moveLocked puts qp in the backoff queue if its backoff has not expired,
// else in the active queue.
func (q *Queue) moveLocked(qp *QueuedPod) {
	if q.backoffExpiry(qp).After(q.opts.Now()) {
		q.backoff.add(qp)
		return
	}
	q.pushActiveLocked(qp)
}

func (q *Queue) pushActiveLocked(qp *QueuedPod) {
	qp.Timestamp = q.opts.Now()
	q.active.add(qp)
	q.cond.Signal()
}

// BackoffDuration is the backoff after the given number of attempts: the
// initial backoff doubled per further attempt, at most the maximum.
func (q *Queue) BackoffDuration(attempts int) time.Duration {
	d := q.opts.InitialBackoff
	for i := 1; i < attempts; i++ {
		if d > q.opts.MaxBackoff-d {
			return q.opts.MaxBackoff
		}
		d += d
	}
	return min(d, q.opts.MaxBackoff)
}

func (q *Queue) backoffExpiry(qp *QueuedPod) time.Time {
	if qp.Attempts == 0 || qp.lastFailure.IsZero() {
		return time.Time{}
	}
	return qp.lastFailure.Add(q.BackoffDuration(qp.Attempts))
}
