package endpointslice

import (
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// trackerTTL bounds how long an unobserved write holds a service back, so
// a slice deleted by someone else right after our write cannot wedge it.
const trackerTTL = 30 * time.Second

// deleted is the expected generation of a slice this controller deleted.
const deleted = -1

type expectedSlice struct {
	generation int64
	at         time.Time
}

// sliceTracker remembers, per service, the slices this controller wrote
// (with the generation the API server returned) or deleted, until the
// informer cache shows them. A service whose cache is stale is not synced:
// acting on it would create duplicate slices.
type sliceTracker struct {
	mu sync.Mutex
	m  map[string]map[string]expectedSlice
}

func newSliceTracker() *sliceTracker {
	return &sliceTracker{m: map[string]map[string]expectedSlice{}}
}

// expect records a write (generation >= 1) or a delete (deleted) of slice
// name for service key.
func (t *sliceTracker) expect(key, name string, generation int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[key] == nil {
		t.m[key] = map[string]expectedSlice{}
	}
	t.m[key][name] = expectedSlice{generation: generation, at: time.Now()}
}

// stale reports whether cached (the service's slices in the informer
// cache) lacks a write or still holds a delete this controller made;
// expectations the cache meets are dropped.
func (t *sliceTracker) stale(key string, cached []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	exp := t.m[key]
	if len(exp) == 0 {
		return false
	}
	byName := make(map[string]*discoveryv1.EndpointSlice, len(cached))
	for _, s := range cached {
		byName[s.Name] = s
	}
	isStale := false
	for name, e := range exp {
		s, present := byName[name]
		met := (e.generation == deleted && !present) || (e.generation != deleted && present && s.Generation >= e.generation)
		switch {
		case met || time.Since(e.at) > trackerTTL:
			delete(exp, name)
		default:
			isStale = true
		}
	}
	if len(exp) == 0 {
		delete(t.m, key)
	}
	return isStale
}

// forget drops the service's expectations.
func (t *sliceTracker) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// observeDeleted drops the expectation of a slice the cache saw deleted
// (whoever deleted it), so it does not hold the service back.
func (t *sliceTracker) observeDeleted(key, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m[key], name)
}
