package ownership

import "sync"

// TrackedExpectations are Expectations whose deletions are tracked per pod
// (upstream's UIDTrackingControllerExpectations). A pod deleted gracefully
// is seen twice, first with a deletionTimestamp and then as gone; counting
// both would satisfy the expectations early and let a controller act on a
// stale cache (deleting one pod too many). Tracking the keys of the pods
// being deleted lowers the expectation once per pod.
type TrackedExpectations struct {
	*Expectations
	mu      sync.Mutex
	pending map[string]map[string]struct{}
}

// NewTrackedExpectations returns empty tracked expectations.
func NewTrackedExpectations() *TrackedExpectations {
	return &TrackedExpectations{Expectations: NewExpectations(), pending: map[string]map[string]struct{}{}}
}

// ExpectDeletions records that the pods named by podKeys (namespace/name)
// are being deleted for the controller key, replacing earlier expectations.
func (t *TrackedExpectations) ExpectDeletions(key string, podKeys []string) {
	t.mu.Lock()
	set := make(map[string]struct{}, len(podKeys))
	for _, k := range podKeys {
		set[k] = struct{}{}
	}
	t.pending[key] = set
	t.mu.Unlock()
	t.Expect(key, 0, len(podKeys))
}

// ExpectCreations records that adds creations are in flight for key,
// replacing earlier expectations.
func (t *TrackedExpectations) ExpectCreations(key string, adds int) {
	t.mu.Lock()
	delete(t.pending, key)
	t.mu.Unlock()
	t.Expect(key, adds, 0)
}

// DeletionObserved lowers key's deletions if podKey was among the pods
// being deleted and was not seen before; other calls do nothing.
func (t *TrackedExpectations) DeletionObserved(key, podKey string) {
	t.mu.Lock()
	set := t.pending[key]
	_, ok := set[podKey]
	if ok {
		delete(set, podKey)
	}
	t.mu.Unlock()
	if ok {
		t.Observed(key, false)
	}
}

// Forget drops key's expectations and tracked deletions.
func (t *TrackedExpectations) Forget(key string) {
	t.mu.Lock()
	delete(t.pending, key)
	t.mu.Unlock()
	t.Expectations.Forget(key)
}
