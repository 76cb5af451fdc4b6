package garbagecollector

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// node is one object of the ownership graph. A virtual node is an owner
// that dependents name but that has not been observed; its existence is
// checked against the API.
type node struct {
	uid        types.UID
	gvr        schema.GroupVersionResource
	apiVersion string
	kind       string
	namespace  string
	name       string
	owners     []metav1.OwnerReference
	finalizers []string
	deleting   bool
	virtual    bool
	dependents map[types.UID]*node
}

func (n *node) hasFinalizer(f string) bool {
	for _, x := range n.finalizers {
		if x == f {
			return true
		}
	}
	return false
}

// blockingDependents counts dependents whose reference to n blocks n's
// foreground deletion.
func (n *node) blockingDependents() int {
	count := 0
	for _, d := range n.dependents {
		for _, ref := range d.owners {
			if ref.UID == n.uid && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
				count++
			}
		}
	}
	return count
}

// snapshot is a copy of a node safe to use outside the graph lock.
type snapshot struct {
	node
	dependentList []snapshot
}

// graph holds every observed object with owner references or dependents.
type graph struct {
	mu    sync.Mutex
	nodes map[types.UID]*node
}

func newGraph() *graph { return &graph{nodes: map[types.UID]*node{}} }

// upsert records an observed object and returns the uids that need
// attention: the object itself and owners that lost or gained a dependent.
func (g *graph) upsert(n *node) (changedOwners []types.UID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cur, ok := g.nodes[n.uid]
	if !ok {
		cur = &node{uid: n.uid, dependents: map[types.UID]*node{}}
		g.nodes[n.uid] = cur
	}
	old := map[types.UID]bool{}
	for _, ref := range cur.owners {
		old[ref.UID] = true
	}
	cur.gvr, cur.apiVersion, cur.kind = n.gvr, n.apiVersion, n.kind
	cur.namespace, cur.name = n.namespace, n.name
	cur.owners, cur.finalizers, cur.deleting, cur.virtual = n.owners, n.finalizers, n.deleting, false
	now := map[types.UID]bool{}
	for _, ref := range n.owners {
		now[ref.UID] = true
		owner, ok := g.nodes[ref.UID]
		if !ok {
			gv, _ := schema.ParseGroupVersion(ref.APIVersion)
			owner = &node{uid: ref.UID, apiVersion: ref.APIVersion, kind: ref.Kind, name: ref.Name,
				namespace: n.namespace, virtual: true, dependents: map[types.UID]*node{}}
			owner.gvr = gv.WithResource("")
			g.nodes[ref.UID] = owner
		}
		owner.dependents[cur.uid] = cur
		if !old[ref.UID] {
			changedOwners = append(changedOwners, ref.UID)
		}
	}
	for uid := range old {
		if !now[uid] {
			if owner, ok := g.nodes[uid]; ok {
				delete(owner.dependents, cur.uid)
				g.dropIfUnused(owner)
			}
			changedOwners = append(changedOwners, uid)
		}
	}
	return changedOwners
}

// remove forgets an object that was deleted and returns its dependents
// and owners, which need attention.
func (g *graph) remove(uid types.UID) (dependents, owners []types.UID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	if !ok {
		return nil, nil
	}
	for _, ref := range n.owners {
		if owner, ok := g.nodes[ref.UID]; ok {
			delete(owner.dependents, uid)
			g.dropIfUnused(owner)
		}
		owners = append(owners, ref.UID)
	}
	for d := range n.dependents {
		dependents = append(dependents, d)
	}
	if len(n.dependents) > 0 {
		// Dependents still point at it: keep it as a virtual owner so they
		// are found dangling.
		n.virtual, n.owners, n.finalizers, n.deleting = true, nil, nil, false
	} else {
		delete(g.nodes, uid)
	}
	return dependents, owners
}

func (g *graph) dropIfUnused(n *node) {
	if n.virtual && len(n.dependents) == 0 {
		delete(g.nodes, n.uid)
	}
}

// get returns a snapshot of uid with its dependents.
func (g *graph) get(uid types.UID) (snapshot, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	if !ok {
		return snapshot{}, false
	}
	s := snapshot{node: copyNode(n)}
	for _, d := range n.dependents {
		s.dependentList = append(s.dependentList, snapshot{node: copyNode(d)})
	}
	s.node.dependents = nil
	return s, true
}

// blocking returns how many dependents block uid's foreground deletion.
func (g *graph) blocking(uid types.UID) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n, ok := g.nodes[uid]; ok {
		return n.blockingDependents()
	}
	return 0
}

func copyNode(n *node) node {
	c := *n
	c.owners = append([]metav1.OwnerReference(nil), n.owners...)
	c.finalizers = append([]string(nil), n.finalizers...)
	c.dependents = nil
	return c
}

// hasDependents reports whether uid has observed dependents.
func (g *graph) hasDependents(uid types.UID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	return ok && len(n.dependents) > 0
}
