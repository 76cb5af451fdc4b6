package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubelab/kubelab/components/apiserver/storage"
)

// ConsistentReadTimeout bounds how long a read that must be current
// (resourceVersion "") waits for the watch cache to reach etcd's revision
// before it goes to etcd instead (upstream waits 3s, then falls back too).
var ConsistentReadTimeout = 3 * time.Second

// progressRetry is how often a waiting read asks etcd for progress again:
// etcd leaves a request unanswered while a shared watch is catching up.
const progressRetry = 50 * time.Millisecond

// relistPage is how many keys one etcd read of a (re)list returns, which
// bounds the memory a list of a large resource holds at once.
const relistPage = 1000

// watchSource opens the event stream a cache follows from a revision
// (storage.Store.WatchShared; tests inject failures).
type watchSource func(ctx context.Context, prefix string, fromRev int64) (<-chan *storage.Event, error)

// watchCache keeps a resource's objects decoded in memory, current through
// the store's shared etcd watch, as upstream's cacher does: it starts with
// a list from etcd, applies every event in order, and lists again when the
// watch breaks. Until it is ready, reads go to etcd.
//
// Objects are stored once, in their stored form, shared with the watch
// events that carried them, and are never modified once cached: readers get
// them as they are (lists copy each item's top-level struct into the list)
// and must not write into them.
type watchCache struct {
	s      *Store
	source watchSource

	mu    sync.RWMutex
	ready bool
	// rev is the revision the cache reflects: every event up to it applied.
	rev    int64
	byKey  map[string]*cacheEntry
	sorted []*cacheEntry // by key, as etcd orders them
	// broken holds keys whose values do not decode; reads that would
	// include them go to etcd, which reports the error as it always has.
	broken map[string]error
	// changed is closed and replaced when rev or readiness changes while
	// someone waits (waiters > 0).
	changed chan struct{}
	waiters int

	stats cacheCounters
}

// cacheEntry is one cached object. Entries are replaced, never modified,
// so a reader may keep one after releasing the lock.
type cacheEntry struct {
	key string
	rev int64          // the key's mod revision
	obj runtime.Object // stored form
	// encoded is obj's protobuf encoding once a list needed it.
	encoded atomic.Pointer[[]byte]
}

type cacheCounters struct {
	listsFromCache, listsFromStorage, waitFallbacks, gets, relists atomic.Int64
}

// CacheStats describes a store's watch cache, for tests and benchmarks.
type CacheStats struct {
	// Enabled is false when the store serves every read from etcd.
	Enabled bool
	// Ready is true while the cache serves reads; Revision is the revision
	// it reflects and Objects how many objects it holds.
	Ready    bool
	Revision int64
	Objects  int
	// ListsFromCache and ListsFromStorage count the lists (and watches'
	// initial lists) served from memory and those sent to etcd.
	ListsFromCache, ListsFromStorage int64
	// WaitFallbacks counts consistent reads sent to etcd because the cache
	// did not reach etcd's revision within ConsistentReadTimeout.
	WaitFallbacks int64
	// Gets counts gets served from the cache.
	Gets int64
	// Lists counts the lists from etcd the cache was built from (1 + the
	// times a broken watch made it list again).
	Lists int64
}

// StartWatchCache makes the store serve lists, gets at resourceVersion 0
// and the initial state of watches from a watch cache fed by the storage's
// shared watch of the resource's prefix, until ctx ends. Reads go to etcd
// until the cache has its first list. Call it once, before serving.
func (s *Store) StartWatchCache(ctx context.Context) {
	s.startWatchCache(ctx, s.storage.WatchShared)
}

func (s *Store) startWatchCache(ctx context.Context, source watchSource) *watchCache {
	c := &watchCache{s: s, source: source, byKey: map[string]*cacheEntry{}, broken: map[string]error{},
		changed: make(chan struct{})}
	s.cache.Store(c)
	go c.run(ctx)
	return c
}

// CacheStats reports the state of the store's watch cache.
func (s *Store) CacheStats() CacheStats {
	c := s.cache.Load()
	if c == nil {
		return CacheStats{}
	}
	c.mu.RLock()
	st := CacheStats{Enabled: true, Ready: c.ready, Revision: c.rev, Objects: len(c.sorted)}
	c.mu.RUnlock()
	st.ListsFromCache = c.stats.listsFromCache.Load()
	st.ListsFromStorage = c.stats.listsFromStorage.Load()
	st.WaitFallbacks = c.stats.waitFallbacks.Load()
	st.Gets = c.stats.gets.Load()
	st.Lists = c.stats.relists.Load()
	return st
}

// run lists and follows until ctx ends, listing again whenever the watch
// breaks (etcd restarted, the cache fell behind the shared history).
func (c *watchCache) run(ctx context.Context) {
	const maxDelay = 5 * time.Second
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		followed, err := c.fill(ctx)
		c.setReady(false)
		if ctx.Err() != nil {
			return
		}
		if followed {
			delay = 100 * time.Millisecond
		}
		slog.Warn("watch cache listing again", "prefix", c.s.prefix, "err", err, "after", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, maxDelay)
	}
}

// fill lists the prefix, then applies the events that follow until the
// watch ends. followed reports whether it got as far as the watch.
func (c *watchCache) fill(ctx context.Context) (followed bool, err error) {
	rev, err := c.relist(ctx)
	if err != nil {
		return false, fmt.Errorf("list: %w", err)
	}
	events, err := c.source(ctx, c.s.prefix, rev)
	if err != nil {
		return false, fmt.Errorf("watch from revision %d: %w", rev, err)
	}
	c.setReady(true)
	for ev := range events {
		switch {
		case ev.Err != nil:
			return true, fmt.Errorf("watch: %w", ev.Err)
		case ev.Progress:
			c.advance(ev.Revision)
		default:
			c.apply(ev)
		}
	}
	return true, errors.New("watch closed")
}

// relist replaces the contents with a list of the prefix from etcd and
// returns its revision. Objects whose mod revision did not change are
// kept rather than decoded again. Only the run goroutine writes the cache,
// so it reads its own maps without the lock.
func (c *watchCache) relist(ctx context.Context) (int64, error) {
	old := c.byKey
	byKey := make(map[string]*cacheEntry, len(old))
	sorted := make([]*cacheEntry, 0, len(old))
	broken := map[string]error{}
	var rev int64
	start := ""
	for {
		res, err := c.s.storage.List(ctx, c.s.prefix, storage.ListOptions{StartKey: start, Limit: relistPage, Revision: rev})
		if err != nil {
			return 0, err
		}
		rev = res.Revision
		for _, kv := range res.KVs {
			e := old[kv.Key]
			if e == nil || e.rev != kv.ModRevision {
				obj, err := c.s.decode(kv.Value, kv.ModRevision)
				if err != nil {
					broken[kv.Key] = err
					continue
				}
				if _, err := c.s.servedWithKind(obj); err != nil {
					broken[kv.Key] = err
					continue
				}
				e = &cacheEntry{key: kv.Key, rev: kv.ModRevision, obj: obj}
			}
			byKey[kv.Key] = e
			sorted = append(sorted, e)
		}
		if !res.More {
			break
		}
		start = res.NextKey
	}
	c.mu.Lock()
	c.byKey, c.sorted, c.broken, c.rev = byKey, sorted, broken, rev
	c.notifyLocked()
	c.mu.Unlock()
	c.stats.relists.Add(1)
	if len(broken) > 0 {
		slog.Error("watch cache holds undecodable objects; their lists go to etcd", "prefix", c.s.prefix, "count", len(broken))
	}
	return rev, nil
}

// apply applies one change. The event's decoded object is the one the
// watchers of the event get too (decoded once); the cached object the
// change replaces becomes the event's old object, so that watchers need
// not decode it.
func (c *watchCache) apply(ev *storage.Event) {
	old := c.byKey[ev.Key]
	if old != nil && ev.PrevValue != nil {
		c.seedPrev(ev, old)
	}
	var entry *cacheEntry
	var bad error
	if !ev.Deleted {
		cur := c.s.eventCur(ev)
		if bad = cur.err; bad == nil {
			entry = &cacheEntry{key: ev.Key, rev: ev.Revision, obj: cur.stored}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i, found := slices.BinarySearchFunc(c.sorted, ev.Key, compareEntryKey)
	switch {
	case entry != nil && found:
		c.sorted[i] = entry
	case entry != nil:
		c.sorted = slices.Insert(c.sorted, i, entry)
	case found:
		c.sorted = slices.Delete(c.sorted, i, i+1)
	}
	if entry != nil {
		c.byKey[ev.Key] = entry
	} else {
		delete(c.byKey, ev.Key)
	}
	if bad != nil {
		c.broken[ev.Key] = bad
		slog.Error("watch cache cannot decode an object; lists that include it go to etcd", "key", ev.Key, "err", bad)
	} else {
		delete(c.broken, ev.Key)
	}
	if ev.Revision > c.rev {
		c.rev = ev.Revision
	}
	c.notifyLocked()
}

func compareEntryKey(e *cacheEntry, key string) int { return strings.Compare(e.key, key) }

// seedPrev gives the event the object it replaced, from memory, unless a
// watcher already decoded it (the cached object is what the old value
// decodes to). A delete sends it, so it gets a copy carrying the event's
// revision; an update's old object only decides selectors, and is the
// cached one itself.
func (c *watchCache) seedPrev(ev *storage.Event, old *cacheEntry) {
	ev.Memo(eventKey{c.s, true}, func() any {
		if !ev.Deleted && c.s.res.Codec == nil {
			return &eventObject{stored: old.obj, served: old.obj}
		}
		o := &eventObject{stored: shallowCopy(old.obj)}
		MetaOf(o.stored).SetResourceVersion(rv(ev.Revision))
		o.served, o.err = c.s.servedWithKind(o.stored)
		return o
	})
}

// shallowCopy returns a new object whose top-level struct is a copy of
// obj's; maps, slices and pointers inside are shared and must be treated
// as read-only.
func shallowCopy(obj runtime.Object) runtime.Object {
	v := reflect.ValueOf(obj)
	cp := reflect.New(v.Type().Elem())
	cp.Elem().Set(v.Elem())
	return cp.Interface().(runtime.Object)
}

// advance records that every event up to rev has been applied.
func (c *watchCache) advance(rev int64) {
	c.mu.Lock()
	if rev > c.rev {
		c.rev = rev
		c.notifyLocked()
	}
	c.mu.Unlock()
}

func (c *watchCache) setReady(ready bool) {
	c.mu.Lock()
	if c.ready != ready {
		c.ready = ready
		c.notifyLocked()
	}
	c.mu.Unlock()
}

func (c *watchCache) notifyLocked() {
	if c.waiters > 0 {
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

// readAt decides whether a read with resourceVersion rv can be served from
// the cache, waiting for it where that is what the semantics ask:
//
//   - "" (most recent) must not be older than any write acknowledged before
//     the read started: it reads etcd's current revision and waits until
//     the cache has reached it (asking etcd for progress, so that an idle
//     prefix catches up), at most ConsistentReadTimeout;
//   - "0" (any) is served at once;
//   - N (not older than N) is served when the cache has reached N; if it
//     has not, but etcd has, it waits for the cache as for "" (a
//     reflector resuming from the revision it last saw); a revision etcd
//     has not reached goes to etcd, which answers "too large" at once.
//
// It returns the least revision the read may be served at, or false to
// send the read to etcd.
func (c *watchCache) readAt(ctx context.Context, rvs string) (int64, bool) {
	want, ok := parseRV(rvs)
	if !ok {
		return 0, false
	}
	c.mu.RLock()
	ready, rev := c.ready, c.rev
	c.mu.RUnlock()
	switch {
	case !ready:
		return 0, false
	case rvs == "0" || (rvs != "" && rev >= want):
		return want, true
	}
	cur, err := c.s.storage.CurrentRevision(ctx)
	if err != nil {
		return 0, false // etcd will report the error
	}
	if rvs == "" {
		want = cur
	} else if want > cur {
		return 0, false
	}
	if !c.waitFor(ctx, want) {
		c.stats.waitFallbacks.Add(1)
		return 0, false
	}
	return want, true
}

// waitFor waits until the cache has reached rev, reporting false if it is
// not ready, ctx ends or ConsistentReadTimeout passes first.
func (c *watchCache) waitFor(ctx context.Context, rev int64) bool {
	c.mu.RLock()
	ready, reached := c.ready, c.rev >= rev
	c.mu.RUnlock()
	if !ready || reached {
		return ready
	}
	c.s.storage.RequestProgress()
	timeout := time.NewTimer(ConsistentReadTimeout)
	defer timeout.Stop()
	retry := time.NewTicker(progressRetry)
	defer retry.Stop()
	c.mu.Lock()
	c.waiters++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.waiters--
		c.mu.Unlock()
	}()
	for {
		c.mu.RLock()
		ready, reached, changed := c.ready, c.rev >= rev, c.changed
		c.mu.RUnlock()
		if !ready || reached {
			return ready
		}
		select {
		case <-changed:
		case <-retry.C:
			c.s.storage.RequestProgress()
		case <-timeout.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// snapshot returns the entries under prefix, in key order, and the
// revision they reflect, if the cache is ready, at least at minRev, and
// holds no undecodable object.
func (c *watchCache) snapshot(prefix string, minRev int64) ([]*cacheEntry, int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.ready || c.rev < minRev || len(c.broken) > 0 {
		return nil, 0, false
	}
	lo, _ := slices.BinarySearchFunc(c.sorted, prefix, compareEntryKey)
	rest := c.sorted[lo:]
	hi := lo + sort.Search(len(rest), func(i int) bool { return !strings.HasPrefix(rest[i].key, prefix) })
	return slices.Clone(c.sorted[lo:hi]), c.rev, true
}

// get returns the cached object at key (nil if there is none), or false
// when the cache cannot answer.
func (c *watchCache) get(key string) (runtime.Object, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.ready {
		return nil, false
	}
	if _, bad := c.broken[key]; bad {
		return nil, false
	}
	if e := c.byKey[key]; e != nil {
		return e.obj, true
	}
	return nil, true
}
