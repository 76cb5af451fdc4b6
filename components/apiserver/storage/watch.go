package storage

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"
)

// Event is one change under a watched prefix, or a progress mark.
type Event struct {
	// Key, Value (nil for deletes) and PrevValue (the value before the change,
	// nil for creates) describe a change at Revision.
	Key       string
	Value     []byte
	PrevValue []byte
	Revision  int64
	Deleted   bool
	// Progress marks that every change up to Revision has been delivered.
	Progress bool
	// Err ends the stream: ErrCompacted when the start revision is gone.
	Err error

	memoMu sync.Mutex
	memo   map[any]any
}

// Memo returns the value f computes for key, computing it once per event.
// Watchers share events, so work such as decoding is done once for all.
func (e *Event) Memo(key any, f func() any) any {
	e.memoMu.Lock()
	defer e.memoMu.Unlock()
	if v, ok := e.memo[key]; ok {
		return v
	}
	if e.memo == nil {
		e.memo = map[any]any{}
	}
	v := f()
	e.memo[key] = v
	return v
}

// watcherBuffer is how many events a watcher may lag behind before it is
// closed; the client then resumes from its last resourceVersion.
const watcherBuffer = 10000

// historySize is how many recent events each prefix keeps so that watches
// resuming from a recent revision are served without a new etcd watch.
var historySize = 4096

// progressInterval is how often the store asks etcd for progress, which
// becomes bookmark events.
var progressInterval = time.Second

// progressFanout is the least time between progress events passed to
// ordinary watchers, which only turn them into bookmarks every few
// seconds; on-demand progress requests (consistent reads) come far more
// often and go to shared followers alone.
var progressFanout = 100 * time.Millisecond

type watcher struct {
	ch     chan *Event
	closed bool
	// everyProgress passes on every progress event, not only fanned-out ones.
	everyProgress bool
}

// hub fans one etcd watch on a prefix out to many watchers.
type hub struct {
	store  *Store
	prefix string

	mu       sync.Mutex
	history  []*Event // ring of the last historySize events, oldest first at start
	start    int
	oldest   int64 // history covers every event with a revision > oldest
	rev      int64 // every event up to rev has been dispatched
	watchers map[*watcher]struct{}
	// lastFanout is when progress last went to every watcher.
	lastFanout time.Time
}

// StartWatching starts the shared watch for prefix now, so that lists taken
// afterwards can be followed by watches served from its history.
func (s *Store) StartWatching(ctx context.Context, prefix string) error {
	_, err := s.hub(ctx, prefix)
	return err
}

func (s *Store) hub(ctx context.Context, prefix string) (*hub, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.hubs[prefix]; ok {
		return h, nil
	}
	rev, err := s.CurrentRevision(ctx)
	if err != nil {
		return nil, err
	}
	h := &hub{store: s, prefix: prefix, oldest: rev, rev: rev, watchers: map[*watcher]struct{}{}}
	s.hubs[prefix] = h
	if len(s.hubs) == 1 {
		go s.requestProgressEvery(progressInterval)
	}
	go h.run(rev)
	return h, nil
}

// sharedStreamContext returns the context every shared watch runs under.
// etcd multiplexes the watches of one client over one gRPC stream per
// distinct outgoing metadata, and answers a progress request only when
// every watch on the stream has caught up: the extra key keeps the shared
// watches on a stream of their own, away from direct watches replaying
// old history, so that progress requests (RequestProgress) are answered.
func sharedStreamContext(parent context.Context) context.Context {
	return clientv3.WithRequireLeader(metadata.AppendToOutgoingContext(parent, "kubelab-watch", "shared"))
}

// Watch streams the changes under prefix with a revision above fromRev (0:
// from now). The channel closes when ctx ends or the watcher falls too far
// behind; a final event with Err set reports why a stream cannot continue.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan *Event, error) {
	return s.watch(ctx, prefix, fromRev, true)
}

// WatchShared is Watch served only from the shared watch: when fromRev is
// older than its history it fails with ErrCompacted instead of opening an
// etcd watch of its own. Followers that can re-list (the watch cache) use
// it, so that each prefix keeps one etcd watch.
func (s *Store) WatchShared(ctx context.Context, prefix string, fromRev int64) (<-chan *Event, error) {
	return s.watch(ctx, prefix, fromRev, false)
}

func (s *Store) watch(ctx context.Context, prefix string, fromRev int64, direct bool) (<-chan *Event, error) {
	h, err := s.hub(ctx, prefix)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if fromRev == 0 {
		fromRev = h.rev
	}
	if fromRev < h.oldest {
		h.mu.Unlock()
		if !direct {
			return nil, ErrCompacted
		}
		return s.directWatch(ctx, prefix, fromRev)
	}
	w := &watcher{ch: make(chan *Event, watcherBuffer), everyProgress: !direct}
	for i := range h.history {
		ev := h.history[(h.start+i)%len(h.history)]
		if ev.Revision > fromRev {
			w.ch <- ev
		}
	}
	h.watchers[w] = struct{}{}
	h.mu.Unlock()

	out := make(chan *Event)
	go func() {
		defer close(out)
		defer h.remove(w)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ch:
				if !ok {
					return
				}
				// Progress at fromRev itself still tells an idle watcher
				// that it is current (it becomes a bookmark).
				if ev.Revision < fromRev || (ev.Revision == fromRev && !ev.Progress) {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !w.closed {
		w.closed = true
		delete(h.watchers, w)
		close(w.ch)
	}
}

// run follows etcd from rev+1 forever, restarting the etcd watch if it fails.
func (h *hub) run(rev int64) {
	ctx := h.store.ctx
	for {
		err := h.follow(ctx, rev)
		if ctx.Err() != nil {
			h.closeAll()
			return
		}
		slog.Warn("storage watch restarting", "prefix", h.prefix, "err", err)
		time.Sleep(100 * time.Millisecond)
		// Events may have been missed: drop history and close every watcher
		// so clients resume from their own revisions (served by etcd directly).
		cur, cerr := h.store.CurrentRevision(ctx)
		if cerr != nil {
			time.Sleep(time.Second)
			continue
		}
		h.closeAll()
		h.mu.Lock()
		h.history, h.start, h.oldest, h.rev = nil, 0, cur, cur
		h.mu.Unlock()
		rev = cur
	}
}

// closeAll ends every watcher; clients resume from their own revisions.
func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		w.closed = true
		close(w.ch)
		delete(h.watchers, w)
	}
}

func (h *hub) follow(parent context.Context, rev int64) error {
	ctx, cancel := context.WithCancel(sharedStreamContext(parent))
	defer cancel()
	wch := h.store.client.Watch(ctx, h.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1),
		clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	for resp := range wch {
		if err := resp.Err(); err != nil {
			return err
		}
		if resp.IsProgressNotify() {
			h.dispatch(&Event{Progress: true, Revision: resp.Header.Revision})
			continue
		}
		for _, e := range resp.Events {
			h.dispatch(convert(e))
		}
	}
	return errors.New("etcd watch channel closed")
}

func convert(e *clientv3.Event) *Event {
	ev := &Event{Key: string(e.Kv.Key), Revision: e.Kv.ModRevision}
	if e.Type == mvccpb.DELETE {
		ev.Deleted = true
	} else {
		ev.Value = e.Kv.Value
	}
	if e.PrevKv != nil {
		ev.PrevValue = e.PrevKv.Value
	}
	return ev
}

func (h *hub) dispatch(ev *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Progress may repeat the current revision (an idle store): it is still
	// passed on, so that idle watchers get bookmarks.
	if ev.Revision < h.rev && ev.Progress {
		return
	}
	if ev.Revision > h.rev {
		h.rev = ev.Revision
	}
	fanout := !ev.Progress
	if ev.Progress && time.Since(h.lastFanout) >= progressFanout {
		fanout, h.lastFanout = true, time.Now()
	}
	if !ev.Progress {
		if len(h.history) < historySize {
			h.history = append(h.history, ev)
		} else {
			h.oldest = h.history[h.start].Revision
			h.history[h.start] = ev
			h.start = (h.start + 1) % len(h.history)
		}
	}
	for w := range h.watchers {
		if !fanout && !w.everyProgress {
			continue
		}
		select {
		case w.ch <- ev:
		default:
			if ev.Progress {
				continue // a full watcher has events to deliver anyway
			}
			slog.Info("closing slow watcher", "prefix", h.prefix)
			w.closed = true
			close(w.ch)
			delete(h.watchers, w)
		}
	}
}

// directWatch serves a watch from a revision older than the shared history
// with its own etcd watch.
func (s *Store) directWatch(ctx context.Context, prefix string, fromRev int64) (<-chan *Event, error) {
	out := make(chan *Event, 100)
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := s.client.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(fromRev+1),
		clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	go func() {
		defer cancel()
		defer close(out)
		send := func(ev *Event) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for resp := range wch {
			if err := resp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) || resp.CompactRevision > 0 {
					send(&Event{Err: ErrCompacted})
				} else {
					send(&Event{Err: mapErr(err)})
				}
				return
			}
			if resp.IsProgressNotify() {
				if !send(&Event{Progress: true, Revision: resp.Header.Revision}) {
					return
				}
				continue
			}
			for _, e := range resp.Events {
				if !send(convert(e)) {
					return
				}
			}
		}
	}()
	return out, nil
}
