package scheduler

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
)

// asyncSink writes events through a few workers: client-go's broadcaster
// writes them one at a time and, when the API server is slower than the
// scheduler (one Scheduled event per pod), fills its queue and logs every
// event it drops. Writes are fire-and-forget; when the sink's own queue is
// full, events are dropped and counted.
type asyncSink struct {
	inner   record.EventSink
	work    chan func()
	log     *slog.Logger
	dropped atomic.Int64
}

var _ record.EventSink = (*asyncSink)(nil)

func newAsyncSink(inner record.EventSink, log *slog.Logger) *asyncSink {
	return &asyncSink{inner: inner, work: make(chan func(), 4096), log: log}
}

// run writes events with workers goroutines until ctx ends.
func (a *asyncSink) run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case w := <-a.work:
					w()
				}
			}
		})
	}
	wg.Wait()
}

func (a *asyncSink) submit(w func()) {
	select {
	case a.work <- w:
	default:
		if n := a.dropped.Add(1); n%1000 == 1 {
			a.log.Warn("event queue full, dropping events", "dropped", n)
		}
	}
}

// Create implements record.EventSink.
func (a *asyncSink) Create(e *corev1.Event) (*corev1.Event, error) {
	a.submit(func() { _, _ = a.inner.Create(e) })
	return e, nil
}

// Update implements record.EventSink.
func (a *asyncSink) Update(e *corev1.Event) (*corev1.Event, error) {
	a.submit(func() { _, _ = a.inner.Update(e) })
	return e, nil
}

// Patch implements record.EventSink; a patch of an event that is gone
// creates it again, as the broadcaster would.
func (a *asyncSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	a.submit(func() {
		if _, err := a.inner.Patch(e, data); err != nil {
			c := e.DeepCopy()
			c.ResourceVersion = ""
			_, _ = a.inner.Create(c)
		}
	})
	return e, nil
}
