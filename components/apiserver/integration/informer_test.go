package integration

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// recorder collects what an informer's handlers saw.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(kind, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, kind+" "+name)
}

func (r *recorder) has(e string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.events, e)
}

func (r *recorder) handler() cache.ResourceEventHandlerFuncs {
	name := func(obj any) string {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		return obj.(metav1.Object).GetName()
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.add("add", name(obj)) },
		UpdateFunc: func(_, obj any) { r.add("update", name(obj)) },
		DeleteFunc: func(obj any) { r.add("delete", name(obj)) },
	}
}

func TestInformer(t *testing.T) {
	if !clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient) {
		t.Log("client-go's WatchListClient is off: the informer lists and watches")
	}
	cp := start(t)
	ctx := t.Context()
	ns := newNamespace(t, cp.Client, "informer")
	cms := cp.Client.CoreV1().ConfigMaps(ns)
	for _, name := range []string{"pre-a", "pre-b"} {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(cp.Client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().ConfigMaps()
	rec := &recorder{}
	if _, err := inf.Informer().AddEventHandler(rec.handler()); err != nil {
		t.Fatal(err)
	}
	ictx, stop := context.WithCancel(ctx)
	defer func() { stop(); factory.Shutdown() }()
	factory.Start(ictx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	for typ, ok := range factory.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			t.Fatalf("informer for %v did not sync", typ)
		}
	}
	if l, err := inf.Lister().ConfigMaps(ns).List(labels.Everything()); err != nil || len(l) != 2 {
		t.Fatalf("synced lister: %d objects (%v), want 2", len(l), err)
	}

	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "live"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Patch(ctx, "pre-a", "application/merge-patch+json", []byte(`{"data":{"x":"1"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "pre-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"add pre-a", "add pre-b", "add live", "update pre-a", "delete pre-b"} {
		eventually(t, "informer event "+e, func() (bool, error) { return rec.has(e), nil })
	}
	eventually(t, "lister to follow", func() (bool, error) {
		cm, err := inf.Lister().ConfigMaps(ns).Get("pre-a")
		return err == nil && cm.Data["x"] == "1", err
	})
}

// TestReflectorRelistsAfterExpiry runs an informer across a restart during
// which etcd is compacted past its resourceVersion. A classic list+watch
// reflector resumes its watch from that resourceVersion, gets 410 Expired
// and lists again; a watch-list reflector (client-go's default) streams
// the current state again. Either way the informer catches up.
func TestReflectorRelistsAfterExpiry(t *testing.T) {
	for _, mode := range []struct {
		name      string
		watchList bool
	}{{"list and watch", false}, {"watch-list", true}} {
		t.Run(mode.name, func(t *testing.T) { testRelist(t, mode.watchList) })
	}
}

// listWatch is a ListWatch that may refuse watch-list semantics.
type listWatch struct {
	*cache.ListWatch
	noWatchList bool
}

// IsWatchListSemanticsUnSupported tells the reflector whether to list and watch.
func (lw listWatch) IsWatchListSemanticsUnSupported() bool { return lw.noWatchList }

func testRelist(t *testing.T, watchList bool) {
	cp := start(t)
	ctx := t.Context()
	ns := newNamespace(t, cp.Client, "relist")
	for _, name := range []string{"a", "b"} {
		if _, err := cp.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var client atomic.Pointer[kubernetes.Interface]
	client.Store(&cp.Client)
	var paused, expired atomic.Bool
	var lists atomic.Int32
	lw := listWatch{noWatchList: !watchList, ListWatch: &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			lists.Add(1)
			return (*client.Load()).CoreV1().ConfigMaps(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			for paused.Load() {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
			w, err := (*client.Load()).CoreV1().ConfigMaps(ns).Watch(ctx, o)
			if err != nil {
				return nil, err
			}
			return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
				if st, ok := e.Object.(*metav1.Status); ok && e.Type == watch.Error && st.Code == 410 {
					expired.Store(true)
				}
				return e, true
			}), nil
		},
	}}
	inf := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{})
	rec := &recorder{}
	if _, err := inf.AddEventHandler(rec.handler()); err != nil {
		t.Fatal(err)
	}
	ictx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); inf.RunWithContext(ictx) }()
	defer func() { stop(); wg.Wait() }()
	eventually(t, "informer sync", func() (bool, error) { return inf.HasSynced(), nil })
	// An event on the watch, so that its end on restart is not "very
	// short" (which makes client-go relist at once instead of resuming).
	if _, err := cp.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "d"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the informer to see d", func() (bool, error) { return rec.has("add d"), nil })

	// Hold back the reflector's next watch, move etcd's revision past what
	// it has seen without it noticing (another resource), and restart.
	paused.Store(true)
	if _, err := cp.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bump"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cp.Restart()
	client.Store(&cp.Client)
	cms := cp.Client.CoreV1().ConfigMaps(ns)
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	compact(t, cp)
	listsBefore := lists.Load()
	paused.Store(false)

	eventually(t, "the informer to catch up", func() (bool, error) {
		keys := inf.GetStore().ListKeys()
		slices.Sort(keys)
		return slices.Equal(keys, []string{ns + "/b", ns + "/c", ns + "/d"}), nil
	})
	if !rec.has("delete a") || !rec.has("add c") {
		t.Errorf("handlers saw %v, want a deleted and c added", rec.events)
	}
	if !watchList && (!expired.Load() || lists.Load() <= listsBefore) {
		t.Errorf("list+watch reflector: 410 seen %v, lists %d -> %d; want a 410 and a relist", expired.Load(), listsBefore, lists.Load())
	}
}
