package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/kubelab/kubelab/components/apiserver/registry"
	"github.com/kubelab/kubelab/components/apiserver/registry/apps"
	"github.com/kubelab/kubelab/components/apiserver/registry/batch"
	"github.com/kubelab/kubelab/components/apiserver/registry/coordination"
	"github.com/kubelab/kubelab/components/apiserver/registry/core"
	"github.com/kubelab/kubelab/components/apiserver/registry/discovery"
	"github.com/kubelab/kubelab/components/apiserver/registry/events"
	"github.com/kubelab/kubelab/components/apiserver/storage"
)

// cacheEnv is one etcd with the pods resource served twice: through a
// watch cache and straight from etcd, so that every cached answer can be
// checked against storage's.
type cacheEnv struct {
	st             *storage.Store
	cached, direct *registry.Store
	// configMaps writes elsewhere, to move etcd's revision past the pods'.
	configMaps *registry.Store
}

// newCacheEnv starts etcd and the stores; the cache starts when start is
// true (otherwise the test starts it with its own source).
func newCacheEnv(t testing.TB, start bool) *cacheEnv {
	t.Helper()
	// A consistent read that does not reach the cache's revision in time
	// goes to etcd; the tests check that reads come from the cache, so only
	// a broken cache may take that long.
	old := registry.ConsistentReadTimeout
	registry.ConsistentReadTimeout = time.Minute
	t.Cleanup(func() { registry.ConsistentReadTimeout = old })
	e, err := storage.StartEmbedded(t.Context(), storage.EmbeddedOptions{Dir: t.TempDir(), UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	env := &cacheEnv{st: storage.New(e.Client)}
	t.Cleanup(env.st.Close)
	for _, res := range core.Resources() {
		switch res.Name {
		case "pods":
			env.cached = registry.NewStore(res, env.st, nil, registry.Hooks{})
			env.direct = registry.NewStore(res, env.st, nil, registry.Hooks{})
		case "configmaps":
			env.configMaps = registry.NewStore(res, env.st, nil, registry.Hooks{})
		}
	}
	if err := env.st.StartWatching(t.Context(), env.cached.Prefix()); err != nil {
		t.Fatal(err)
	}
	if start {
		env.cached.StartWatchCache(t.Context())
		env.waitReady(t)
	}
	return env
}

// waitReady polls until the cache serves reads (its first list is done).
func (env *cacheEnv) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !env.cached.CacheStats().Ready {
		if time.Now().After(deadline) {
			t.Fatalf("watch cache not ready: %+v", env.cached.CacheStats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cachePod(ns, name string, i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			"app": []string{"a", "b", "c"}[i%3], "idx": strconv.Itoa(i)},
			Annotations: map[string]string{"note": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

// write makes one random change to the pods of namespaces, or writes a
// config map, which moves etcd's revision without touching pods.
func (env *cacheEnv) write(t *testing.T, rng *rand.Rand, namespaces []string, n int) {
	t.Helper()
	ctx := t.Context()
	ns := namespaces[rng.IntN(len(namespaces))]
	name := fmt.Sprintf("p-%02d", rng.IntN(n))
	wo := registry.WriteOptions{FieldManager: "test"}
	var err error
	switch op := rng.IntN(7); op {
	case 0, 1:
		_, err = env.direct.Create(ctx, ns, cachePod(ns, name, rng.IntN(9)), wo)
	case 2:
		_, err = env.direct.GuaranteedUpdate(ctx, ns, name, "", wo, func(obj runtime.Object) (runtime.Object, error) {
			obj.(*corev1.Pod).Labels["app"] = []string{"a", "b", "c"}[rng.IntN(3)]
			return obj, nil
		})
	case 3:
		err = env.direct.Bind(ctx, ns, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: name},
			Target: corev1.ObjectReference{Kind: "Node", Name: fmt.Sprintf("node-%d", rng.IntN(2))}}, wo)
	case 4:
		status := wo
		status.Subresource = "status"
		_, err = env.direct.GuaranteedUpdate(ctx, ns, name, "", status, func(obj runtime.Object) (runtime.Object, error) {
			obj.(*corev1.Pod).Status.Phase = []corev1.PodPhase{corev1.PodRunning, corev1.PodSucceeded}[rng.IntN(2)]
			return obj, nil
		})
	case 5:
		_, _, err = env.direct.Delete(ctx, ns, name, nil, false)
	case 6:
		_, err = env.configMaps.Create(ctx, "default", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "cm-"}}, wo)
	}
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsAlreadyExists(err) && !apierrors.IsConflict(err) {
		t.Fatalf("write: %v", err)
	}
}

var protoCodec = protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)

func encodeProto(t testing.TB, obj runtime.Object) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := protoCodec.Encode(obj, &buf); err != nil {
		t.Fatalf("encode %T: %v", obj, err)
	}
	return buf.Bytes()
}

func podNames(list runtime.Object) []string {
	var out []string
	for _, p := range list.(*corev1.PodList).Items {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return out
}

// TestWatchCacheListsAsStorage makes random changes and, after each batch,
// lists through the cache and straight from etcd with random namespaces,
// selectors, limits and resourceVersions: the answers must be the same
// (items, revision, continue tokens, remaining counts, protobuf bytes),
// and the cached store must have served them from memory.
func TestWatchCacheListsAsStorage(t *testing.T) {
	env := newCacheEnv(t, true)
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	namespaces := []string{"ns-a", "ns-b", "ns-c"}
	labelSelectors := []string{"", "app=a", "app in (a,b)", "app!=b,idx", "!idx", "idx=3"}
	fieldSelectors := []string{"", "spec.nodeName=node-1", "spec.nodeName=", "status.phase=Running",
		"metadata.name=p-03", "metadata.namespace=ns-b,status.phase!=Succeeded"}
	cachedLists := 0
	for round := range 12 {
		for range 25 {
			env.write(t, rng, namespaces, 20)
		}
		for q := range 30 {
			ns := []string{"", "ns-a", "ns-b", "ns-c"}[rng.IntN(4)]
			o := registry.ListOptions{Limit: []int64{0, 0, 1, 4}[rng.IntN(4)]}
			var err error
			if o.LabelSelector, err = labels.Parse(labelSelectors[rng.IntN(len(labelSelectors))]); err != nil {
				t.Fatal(err)
			}
			if o.FieldSelector, err = fields.ParseSelector(fieldSelectors[rng.IntN(len(fieldSelectors))]); err != nil {
				t.Fatal(err)
			}
			rvMode := rng.IntN(3)
			if rvMode == 2 {
				// Not older than etcd's revision now.
				rev, err := env.st.CurrentRevision(ctx)
				if err != nil {
					t.Fatal(err)
				}
				o.ResourceVersion, o.ResourceVersionMatch = strconv.FormatInt(rev, 10), metav1.ResourceVersionMatchNotOlderThan
			}
			desc := fmt.Sprintf("round %d query %d: ns %q labels %q fields %q limit %d rv %q",
				round, q, ns, o.LabelSelector, o.FieldSelector, o.Limit, o.ResourceVersion)
			want, err := env.direct.List(ctx, ns, o)
			if err != nil {
				t.Fatalf("%s: storage: %v", desc, err)
			}
			got, err := env.cached.List(ctx, ns, o)
			if err != nil {
				t.Fatalf("%s: cache: %v", desc, err)
			}
			cachedLists++
			if !equality.Semantic.DeepEqual(got, want) {
				t.Fatalf("%s:\ncache   %v (rv %s)\nstorage %v (rv %s)", desc, podNames(got), got.(*corev1.PodList).ResourceVersion,
					podNames(want), want.(*corev1.PodList).ResourceVersion)
			}
			encoded, err := env.cached.ListProtobuf(ctx, ns, o)
			if err != nil {
				t.Fatal(err)
			}
			cachedLists++
			// The endpoints set the list's kind before encoding it.
			encoded.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
			typed := want.DeepCopyObject()
			typed.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
			if a, b := encodeProto(t, encoded), encodeProto(t, typed); !bytes.Equal(a, b) {
				i := 0
				for i < min(len(a), len(b)) && a[i] == b[i] {
					i++
				}
				t.Fatalf("%s: the cached protobuf list encodes differently from storage's at byte %d of %d/%d:\n%q\n%q", desc, i, len(a), len(b), a[max(0, i-100):min(i+100, len(a))], b[max(0, i-100):min(i+100, len(b))])
			}
			// Later pages continue at the first page's revision (from etcd).
			for page := 1; want.(*corev1.PodList).Continue != ""; page++ {
				o.Continue, o.ResourceVersion, o.ResourceVersionMatch = want.(*corev1.PodList).Continue, "", ""
				if want, err = env.direct.List(ctx, ns, o); err != nil {
					t.Fatal(err)
				}
				if got, err = env.cached.List(ctx, ns, o); err != nil {
					t.Fatal(err)
				}
				if !equality.Semantic.DeepEqual(got, want) {
					t.Fatalf("%s: page %d differs: %v, want %v", desc, page, podNames(got), podNames(want))
				}
			}
		}
		// resourceVersion "0" is served at once and, as upstream's cache
		// does, whole: the limit is ignored.
		got, err := env.cached.List(ctx, "", registry.ListOptions{ResourceVersion: "0", Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		cachedLists++
		if l := got.(*corev1.PodList); l.Continue != "" || l.RemainingItemCount != nil {
			t.Fatalf("resourceVersion 0 list is paged: continue %q", l.Continue)
		}
		rv, _ := strconv.ParseInt(got.(*corev1.PodList).ResourceVersion, 10, 64)
		want, err := env.direct.List(ctx, "", registry.ListOptions{ResourceVersion: strconv.FormatInt(rv, 10), ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		if err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(got, want) {
			t.Fatalf("resourceVersion 0 list %v differs from storage at its revision %d: %v", podNames(got), rv, podNames(want))
		}
	}
	st := env.cached.CacheStats()
	if st.ListsFromCache != int64(cachedLists) || st.ListsFromStorage != 0 || st.WaitFallbacks != 0 {
		t.Fatalf("%d lists: %+v; want every one served from the cache", cachedLists, st)
	}
}

// TestWatchCacheReadsItsWrites writes through etcd (another store) and
// lists through the cache at once: a list with resourceVersion "" must see
// every write acknowledged before it, also when the write was to another
// resource and the pods' prefix is idle (the cache then learns etcd's
// revision from a progress notification).
func TestWatchCacheReadsItsWrites(t *testing.T) {
	env := newCacheEnv(t, true)
	ctx := t.Context()
	if _, err := env.direct.Create(ctx, "ns", cachePod("ns", "p", 0), registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		want := strconv.Itoa(i)
		if i%2 == 0 {
			_, err := env.direct.GuaranteedUpdate(ctx, "ns", "p", "", registry.WriteOptions{}, func(obj runtime.Object) (runtime.Object, error) {
				obj.(*corev1.Pod).Labels["idx"] = want
				return obj, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		} else {
			// Only etcd's revision moves; the pod keeps the last value.
			want = strconv.Itoa(i - 1)
			if _, err := env.configMaps.Create(ctx, "ns", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-" + want}}, registry.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		rev, err := env.st.CurrentRevision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		list, err := env.cached.List(ctx, "ns", registry.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l := list.(*corev1.PodList)
		if len(l.Items) != 1 || l.Items[0].Labels["idx"] != want {
			t.Fatalf("write %d: list %+v, want the pod with idx %s", i, l.Items, want)
		}
		if got, _ := strconv.ParseInt(l.ResourceVersion, 10, 64); got < rev {
			t.Fatalf("write %d: list at revision %d, older than etcd's %d before it", i, got, rev)
		}
	}
	if st := env.cached.CacheStats(); st.ListsFromCache != 60 || st.ListsFromStorage != 0 {
		t.Fatalf("stats %+v: want 60 lists from the cache", st)
	}
}

// brokenSource is a watch source whose first stream delivers nothing (the
// events are lost) until the test fails it; later streams are storage's,
// opened once the test releases them.
type brokenSource struct {
	st      *storage.Store
	first   chan *storage.Event
	release chan struct{}
	calls   int
}

func (b *brokenSource) watch(ctx context.Context, prefix string, rev int64) (<-chan *storage.Event, error) {
	b.calls++
	if b.calls == 1 {
		return b.first, nil
	}
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return b.st.WatchShared(ctx, prefix, rev)
}

// TestWatchCacheRelists breaks the watch a cache follows after it lost
// events: until it has listed again, consistent reads go to etcd (and see
// the writes) and resourceVersion 0 reads get the stale state at its stale
// revision; once it has, it serves the writes it missed.
func TestWatchCacheRelists(t *testing.T) {
	env := newCacheEnv(t, false)
	ctx := t.Context()
	registry.ConsistentReadTimeout = 200 * time.Millisecond
	src := &brokenSource{st: env.st, first: make(chan *storage.Event), release: make(chan struct{})}
	if _, err := env.direct.Create(ctx, "ns", cachePod("ns", "before", 0), registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	env.cached.StartWatchCacheFrom(ctx, src.watch)
	env.waitReady(t)
	if _, err := env.direct.Create(ctx, "ns", cachePod("ns", "missed", 1), registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := env.cached.List(ctx, "ns", registry.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := podNames(list); len(got) != 2 {
		t.Fatalf("consistent list while the cache lags: %v, want both pods", got)
	}
	if st := env.cached.CacheStats(); st.WaitFallbacks != 1 || st.ListsFromStorage != 1 {
		t.Fatalf("stats %+v: want the lagging cache to send the list to etcd", st)
	}
	stale, err := env.cached.List(ctx, "ns", registry.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := podNames(stale); len(got) != 1 {
		t.Fatalf("resourceVersion 0 list: %v, want the cache's stale state", got)
	}

	// The watch fails (as on compaction): the cache lists again. Until its
	// new watch is open it is not ready and reads go to etcd.
	src.first <- &storage.Event{Err: storage.ErrCompacted}
	deadline := time.Now().Add(30 * time.Second)
	for st := env.cached.CacheStats(); st.Ready || st.Lists < 2; st = env.cached.CacheStats() {
		if time.Now().After(deadline) {
			t.Fatalf("cache did not list again: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	before := env.cached.CacheStats().ListsFromStorage
	if list, err = env.cached.List(ctx, "ns", registry.ListOptions{ResourceVersion: "0"}); err != nil {
		t.Fatal(err)
	}
	if got := podNames(list); len(got) != 2 || env.cached.CacheStats().ListsFromStorage != before+1 {
		t.Fatalf("list while the cache is not ready: %v, stats %+v", got, env.cached.CacheStats())
	}
	close(src.release)
	env.waitReady(t)
	if _, err := env.direct.Create(ctx, "ns", cachePod("ns", "after", 2), registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	registry.ConsistentReadTimeout = time.Minute
	fromCache := env.cached.CacheStats().ListsFromCache
	if list, err = env.cached.List(ctx, "ns", registry.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := podNames(list); len(got) != 3 || env.cached.CacheStats().ListsFromCache != fromCache+1 {
		t.Fatalf("list after the cache listed again: %v, stats %+v", got, env.cached.CacheStats())
	}
}

// TestWatchCacheUndecodableValue stores a value that does not decode: the
// cache sends lists that would include it to etcd, which reports the
// error as it did without a cache, and serves again once it is gone.
func TestWatchCacheUndecodableValue(t *testing.T) {
	env := newCacheEnv(t, true)
	ctx := t.Context()
	if _, err := env.direct.Create(ctx, "ns", cachePod("ns", "good", 0), registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.st.Create(ctx, env.cached.Prefix()+"ns/bad", []byte("k8s\x00not protobuf")); err != nil {
		t.Fatal(err)
	}
	_, want := env.direct.List(ctx, "ns", registry.ListOptions{})
	_, got := env.cached.List(ctx, "ns", registry.ListOptions{})
	if want == nil || got == nil || got.Error() != want.Error() {
		t.Fatalf("list with an undecodable value: cache %v, storage %v", got, want)
	}
	if _, err := env.st.Delete(ctx, env.cached.Prefix()+"ns/bad", 0); err != nil {
		t.Fatal(err)
	}
	list, err := env.cached.List(ctx, "ns", registry.ListOptions{})
	if err != nil || len(podNames(list)) != 1 {
		t.Fatalf("list after the value was removed: %v %v", list, err)
	}
	if st := env.cached.CacheStats(); st.ListsFromCache != 1 || st.ListsFromStorage != 1 {
		t.Fatalf("stats %+v: want one list from etcd (the error), one from the cache", st)
	}
}

// TestWatchCacheGet serves gets at resourceVersion 0 from the cache, as
// upstream does, and others from etcd.
func TestWatchCacheGet(t *testing.T) {
	env := newCacheEnv(t, true)
	ctx := t.Context()
	if _, err := env.direct.Create(ctx, "ns", cachePod("ns", "p", 0), registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.cached.List(ctx, "ns", registry.ListOptions{}); err != nil { // catches up
		t.Fatal(err)
	}
	stored, err := env.direct.Get(ctx, "ns", "p")
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.cached.GetAt(ctx, "ns", "p", "0")
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(got, stored) {
		t.Fatalf("cached get %+v, want %+v", got, stored)
	}
	// What a caller sets on the result stays out of the cache.
	got.(*corev1.Pod).Kind = "Changed"
	got.(*corev1.Pod).ResourceVersion = "1"
	if again, _ := env.cached.GetAt(ctx, "ns", "p", "0"); again.(*corev1.Pod).Kind == "Changed" || again.(*corev1.Pod).ResourceVersion == "1" {
		t.Fatal("a change to a get's result reached the cache")
	}
	if _, err := env.cached.GetAt(ctx, "ns", "missing", "0"); !apierrors.IsNotFound(err) {
		t.Fatalf("cached get of a missing pod: %v", err)
	}
	if _, err := env.cached.GetAt(ctx, "ns", "p", ""); err != nil {
		t.Fatal(err)
	}
	if st := env.cached.CacheStats(); st.Gets != 3 {
		t.Fatalf("stats %+v: want 3 gets from the cache (resourceVersion 0 only)", st)
	}
}

// TestWatchCacheWatch compares the events of watches on the cached and the
// direct store: the same initial state and the same changes, old objects
// (which the cache supplies from memory) included.
func TestWatchCacheWatch(t *testing.T) {
	env := newCacheEnv(t, true)
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(3, 4))
	namespaces := []string{"ns-a", "ns-b"}
	for range 30 {
		env.write(t, rng, namespaces, 10)
	}
	selector, _ := fields.ParseSelector("spec.nodeName=node-1")
	for i, o := range []registry.ListOptions{{}, {FieldSelector: selector}} {
		t.Run("fields="+fmt.Sprint(o.FieldSelector), func(t *testing.T) {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			// Both start with the current state at the same revision.
			cw, err := env.cached.Watch(wctx, "", registry.WatchOptions{ListOptions: o})
			if err != nil {
				t.Fatal(err)
			}
			var initial []watch.Event
			for range podCount(t, env, o) {
				initial = append(initial, <-cw)
			}
			list, err := env.cached.List(ctx, "", registry.ListOptions{FieldSelector: o.FieldSelector, ResourceVersion: "0"})
			if err != nil {
				t.Fatal(err)
			}
			do := o
			do.ResourceVersion = list.(*corev1.PodList).ResourceVersion
			dw, err := env.direct.Watch(wctx, "", registry.WatchOptions{ListOptions: do})
			if err != nil {
				t.Fatal(err)
			}
			for i, ev := range initial {
				if ev.Type != watch.Added || !equality.Semantic.DeepEqual(ev.Object, &list.(*corev1.PodList).Items[i]) {
					t.Fatalf("initial event %d: %s %v", i, ev.Type, registry.MetaOf(ev.Object).GetName())
				}
			}
			for range 40 {
				env.write(t, rng, namespaces, 10)
			}
			// A last change every watch sees ends the comparison.
			end := cachePod("ns-a", fmt.Sprintf("end-%d", i), 0)
			end.Spec.NodeName = "node-1"
			if _, err := env.direct.Create(ctx, "ns-a", end, registry.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			got, want := collect(t, cw, end.Name), collect(t, dw, end.Name)
			if len(got) != len(want) {
				t.Fatalf("%d events through the cache, %d straight", len(got), len(want))
			}
			for i := range got {
				if got[i].Type != want[i].Type || !equality.Semantic.DeepEqual(got[i].Object, want[i].Object) {
					t.Fatalf("event %d: %s %+v\nwant %s %+v", i, got[i].Type, got[i].Object, want[i].Type, want[i].Object)
				}
			}
		})
	}
}

func podCount(t *testing.T, env *cacheEnv, o registry.ListOptions) int {
	t.Helper()
	list, err := env.direct.List(t.Context(), "", registry.ListOptions{FieldSelector: o.FieldSelector})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.(*corev1.PodList).Items)
}

// collect reads events until the pod named end was added.
func collect(t *testing.T, ch <-chan watch.Event, end string) []watch.Event {
	t.Helper()
	var out []watch.Event
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("watch closed")
			}
			out = append(out, ev)
			if registry.MetaOf(ev.Object).GetName() == end {
				return out
			}
		case <-timeout:
			t.Fatalf("no end event after %d events", len(out))
		}
	}
}

// TestProtobufListLayout checks that every resource's list may be encoded
// from kept item encodings (a new list type with another layout would
// silently lose that), except versions converted on the way out.
func TestProtobufListLayout(t *testing.T) {
	var all []*registry.Resource
	for _, group := range [][]*registry.Resource{core.Resources(), apps.Resources(), batch.Resources(),
		coordination.Resources(), discovery.Resources(), events.Resources()} {
		all = append(all, group...)
	}
	for _, res := range all {
		if got, want := registry.ProtobufListLayout(res), res.Codec == nil; got != want {
			t.Errorf("%s: kept encodings usable %t, want %t", res.GVR(), got, want)
		}
	}
}
