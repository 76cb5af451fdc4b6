package integration

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// podObserver follows the pods of a namespace through one watch and
// checks an invariant after every event, so every state the API server
// went through (each etcd revision that touched a pod) is checked, not
// only the states a poll happens to see.
type podObserver struct {
	mu sync.Mutex
	// pods is the current state; seen every pod UID ever observed.
	pods map[types.UID]*corev1.Pod
	seen map[types.UID]*corev1.Pod
	// check returns a violation of the invariant in pods, or "".
	check func(pods []*corev1.Pod) string
	// violations are the first violations found, with their revision.
	violations []string
	// rv is the resourceVersion of the last event applied.
	rv     uint64
	events int
	cancel context.CancelFunc
	done   chan struct{}

	client       kubernetes.Interface
	ns, selector string
}

// observePods starts observing the pods of ns matching selector; check
// may be nil and can be set later with setCheck. The observer stops when
// the test ends.
func (cl *cluster) observePods(t *testing.T, ns, selector string, check func([]*corev1.Pod) string) *podObserver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o := &podObserver{pods: map[types.UID]*corev1.Pod{}, seen: map[types.UID]*corev1.Pod{}, check: check, cancel: cancel, done: make(chan struct{}),
		client: cl.c, ns: ns, selector: selector}
	list, err := cl.c.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		cancel()
		t.Fatalf("list pods: %v", err)
	}
	for i := range list.Items {
		p := &list.Items[i]
		o.pods[p.UID], o.seen[p.UID] = p, p
	}
	o.rv = parseRV(list.ResourceVersion)
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		opts.LabelSelector = selector
		return cl.c.CoreV1().Pods(ns).Watch(ctx, opts)
	}}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, lw)
	if err != nil {
		cancel()
		t.Fatalf("watch pods: %v", err)
	}
	go func() {
		defer close(o.done)
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					return
				}
				o.apply(ev)
			}
		}
	}()
	t.Cleanup(o.stop)
	return o
}

func (o *podObserver) stop() {
	o.cancel()
	<-o.done
}

func (o *podObserver) apply(ev watch.Event) {
	p, ok := ev.Object.(*corev1.Pod)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch ev.Type {
	case watch.Added, watch.Modified:
		o.pods[p.UID] = p
		o.seen[p.UID] = p
	case watch.Deleted:
		delete(o.pods, p.UID)
		o.seen[p.UID] = p
	default:
		return
	}
	o.events++
	o.rv = parseRV(p.ResourceVersion)
	if o.check == nil || len(o.violations) >= 10 {
		return
	}
	if v := o.check(o.currentLocked()); v != "" {
		o.violations = append(o.violations, fmt.Sprintf("at revision %s after %s of %s: %s", p.ResourceVersion, ev.Type, p.Name, v))
	}
}

func (o *podObserver) currentLocked() []*corev1.Pod {
	out := make([]*corev1.Pod, 0, len(o.pods))
	for _, p := range o.pods {
		out = append(out, p)
	}
	return out
}

// setCheck replaces the invariant; it is checked at once on the current
// state.
func (o *podObserver) setCheck(check func([]*corev1.Pod) string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.check = check
	if check == nil {
		return
	}
	if v := check(o.currentLocked()); v != "" {
		o.violations = append(o.violations, "when the check was set: "+v)
	}
}

// catchUp waits until the observer has applied every pod event up to
// the current revision of the API server: until it has seen a revision
// at least as new as a fresh list's, or its pods are the list's.
func (o *podObserver) catchUp(t *testing.T) {
	t.Helper()
	list, err := o.client.CoreV1().Pods(o.ns).List(t.Context(), metav1.ListOptions{LabelSelector: o.selector})
	if err != nil {
		t.Fatal(err)
	}
	want := parseRV(list.ResourceVersion)
	waitForWithin(t, 10*time.Second, "pod observer caught up", func(context.Context) (bool, string) {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.rv >= want {
			return true, ""
		}
		same := len(o.pods) == len(list.Items)
		for i := range list.Items {
			p := &list.Items[i]
			same = same && o.pods[p.UID] != nil && o.pods[p.UID].ResourceVersion == p.ResourceVersion
		}
		return same, fmt.Sprintf("observer at revision %d, list at %d", o.rv, want)
	})
}

// assertNoViolations fails the test with every violation the observer found.
func (o *podObserver) assertNoViolations(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, v := range o.violations {
		t.Errorf("invariant violated %s", v)
	}
	t.Logf("pod observer checked %d events", o.events)
}

// everSeen returns the pods ever observed (their last seen state).
func (o *podObserver) everSeen() []*corev1.Pod {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(o.seen))
	for _, p := range o.seen {
		out = append(out, p)
	}
	return out
}

// parseRV reads a resourceVersion as the etcd revision it is.
func parseRV(rv string) uint64 {
	n, _ := strconv.ParseUint(rv, 10, 64)
	return n
}

// deletionLog records, for the objects of a namespace, the revision at
// which the API server's watch reported each one deleted.
type deletionLog struct {
	mu sync.Mutex
	at map[string]uint64
}

// watchDeletions starts recording deletions of deployments, replica sets
// and pods in ns ("Kind/name" -> revision) until the test ends.
func (cl *cluster) watchDeletions(t *testing.T, ns string) *deletionLog {
	t.Helper()
	l := &deletionLog{at: map[string]uint64{}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	type lister func(ctx context.Context, opts metav1.ListOptions) (string, error)
	type watcher func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	kinds := []struct {
		kind  string
		list  lister
		watch watcher
	}{
		{"Deployment", func(ctx context.Context, o metav1.ListOptions) (string, error) {
			l, err := cl.c.AppsV1().Deployments(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			return l.ResourceVersion, nil
		}, cl.c.AppsV1().Deployments(ns).Watch},
		{"ReplicaSet", func(ctx context.Context, o metav1.ListOptions) (string, error) {
			l, err := cl.c.AppsV1().ReplicaSets(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			return l.ResourceVersion, nil
		}, cl.c.AppsV1().ReplicaSets(ns).Watch},
		{"Pod", func(ctx context.Context, o metav1.ListOptions) (string, error) {
			l, err := cl.c.CoreV1().Pods(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			return l.ResourceVersion, nil
		}, cl.c.CoreV1().Pods(ns).Watch},
	}
	for _, k := range kinds {
		rv, err := k.list(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list %s: %v", k.kind, err)
		}
		w, err := watchtools.NewRetryWatcherWithContext(ctx, rv, &cache.ListWatch{WatchFuncWithContext: cache.WatchFuncWithContext(k.watch)})
		if err != nil {
			t.Fatalf("watch %s: %v", k.kind, err)
		}
		go func() {
			defer w.Stop()
			for ev := range w.ResultChan() {
				if ev.Type != watch.Deleted {
					continue
				}
				m, err := apimeta.Accessor(ev.Object)
				if err != nil {
					continue
				}
				l.mu.Lock()
				l.at[k.kind+"/"+m.GetName()] = parseRV(m.GetResourceVersion())
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// wait waits until every key was seen deleted and returns the revisions.
func (l *deletionLog) wait(t *testing.T, keys []string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	waitFor(t, "deletions watched", func(context.Context) (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		var missing []string
		for _, k := range keys {
			rv, ok := l.at[k]
			if !ok {
				missing = append(missing, k)
			}
			out[k] = rv
		}
		return len(missing) == 0, fmt.Sprintf("not yet deleted: %v", missing)
	})
	return out
}
