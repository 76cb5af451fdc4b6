package ownership

import (
	"sync"
	"time"
)

// expectationsTTL bounds how long unobserved expectations block a sync, as
// upstream's ExpectationsTimeout does, so a lost watch event cannot wedge a
// controller.
const expectationsTTL = 5 * time.Minute

func secondsDuration(s int32) time.Duration { return time.Duration(s) * time.Second }

// Expectations counts, per controller key, the creates and deletes a
// controller has issued but not yet seen in its informer. A controller
// syncs a key only when its expectations are satisfied, so it never acts
// twice on a stale cache (the source of duplicate or missing pods).
type Expectations struct {
	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds, dels int
	at         time.Time
}

// NewExpectations returns empty expectations.
func NewExpectations() *Expectations { return &Expectations{m: map[string]*expectation{}} }

// Expect records that adds creations and dels deletions are in flight for key.
func (e *Expectations) Expect(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: adds, dels: dels, at: time.Now()}
}

// Observed lowers key's expectations after an informer saw a create
// (add=true) or a delete; a failed request is lowered the same way.
func (e *Expectations) Observed(key string, add bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return
	}
	if add {
		x.adds--
	} else {
		x.dels--
	}
}

// Satisfied reports whether key may sync: nothing is in flight or the
// expectations expired.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if (x.adds <= 0 && x.dels <= 0) || time.Since(x.at) > expectationsTTL {
		delete(e.m, key)
		return true
	}
	return false
}

// Forget drops key's expectations (the controller object was deleted).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
