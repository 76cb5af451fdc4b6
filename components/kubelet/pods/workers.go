package pods

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// SyncFunc syncs one pod and says when to sync it again without a change
// (0: only on change) and whether its worker is done (the pod is gone and
// cleaned up).
type SyncFunc func(ctx context.Context, uid types.UID) (next time.Duration, done bool)

// Workers runs one goroutine per pod: each pod's syncs are serialized,
// different pods sync in parallel. Updates while a sync runs coalesce
// into one more sync.
type Workers struct {
	ctx  context.Context
	sync SyncFunc

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup
}

type podWorker struct {
	notify chan struct{}
}

// NewWorkers returns workers that call sync until ctx ends. A nil sync
// must be set with SetSync before the first Update.
func NewWorkers(ctx context.Context, sync SyncFunc) *Workers {
	return &Workers{ctx: ctx, sync: sync, workers: map[types.UID]*podWorker{}}
}

// SetSync sets the sync function; call it before the first Update.
func (w *Workers) SetSync(sync SyncFunc) {
	w.mu.Lock()
	w.sync = sync
	w.mu.Unlock()
}

// Update asks for a sync of the pod, starting its worker if needed.
func (w *Workers) Update(uid types.UID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx.Err() != nil {
		return
	}
	pw := w.workers[uid]
	if pw == nil {
		pw = &podWorker{notify: make(chan struct{}, 1)}
		w.workers[uid] = pw
		w.wg.Add(1)
		go w.run(uid, pw)
	}
	select {
	case pw.notify <- struct{}{}:
	default:
	}
}

// Active lists the pods with a worker.
func (w *Workers) Active() []types.UID {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]types.UID, 0, len(w.workers))
	for uid := range w.workers {
		out = append(out, uid)
	}
	return out
}

// Wait waits for the workers to stop once the context ended.
func (w *Workers) Wait() { w.wg.Wait() }

func (w *Workers) run(uid types.UID, pw *podWorker) {
	defer w.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-pw.notify:
		case <-timer.C:
		}
		next, done := w.sync(w.ctx, uid)
		if done {
			w.mu.Lock()
			select {
			case <-pw.notify:
				// An update raced the end: keep going.
				w.mu.Unlock()
				select {
				case pw.notify <- struct{}{}:
				default:
				}
				continue
			default:
			}
			delete(w.workers, uid)
			w.mu.Unlock()
			return
		}
		timer.Stop()
		if next > 0 {
			timer.Reset(next)
		}
	}
}
