package integration

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/kubelab/kubelab/components/apiserver/registry"
)

// TestWatchCache drives the API server's watch cache through client-go:
// lists see every write acknowledged before them while other writers keep
// etcd's revision moving, resourceVersion 0 lists come whole (limits
// ignored, as upstream's cache does), gets at resourceVersion 0 and
// informers work, and all of it is served from memory.
func TestWatchCache(t *testing.T) {
	old := registry.ConsistentReadTimeout
	registry.ConsistentReadTimeout = time.Minute // only a broken cache is that slow
	t.Cleanup(func() { registry.ConsistentReadTimeout = old })
	cp := start(t)
	ctx := t.Context()
	ns := newNamespace(t, cp.Client, "cache")
	store := cp.Cluster.APIServer.Store("/v1, Resource=pods")
	eventually(t, "the pods cache is ready", func() (bool, error) { return store.CacheStats().Ready, nil })
	before := store.CacheStats()

	// Config maps written meanwhile move etcd's revision past the pods'.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("noise-%d", i)}}
			if _, err := cp.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	pods := cp.Client.CoreV1().Pods(ns)
	const n = 20
	for i := range n {
		name := fmt.Sprintf("p-%02d", i)
		if _, err := pods.Create(ctx, testPod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != i+1 || l.Items[i].Name != name {
			t.Fatalf("list after creating %s: %d pods, want %d", name, len(l.Items), i+1)
		}
		if i%4 == 3 {
			if err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
				t.Fatal(err)
			}
			l, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Items) != 0 {
				t.Fatalf("list after deleting %s still has it", name)
			}
			if _, err := pods.Create(ctx, testPod(name), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	// A consistent list waits for the last create; a list at
	// resourceVersion 0 may be served from an older state.
	if l, err := pods.List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != n {
		t.Fatalf("consistent list: %v, want %d pods", err, n)
	}

	// resourceVersion 0: everything at once, the limit ignored.
	all, err := pods.List(ctx, metav1.ListOptions{ResourceVersion: "0", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != n || all.Continue != "" {
		t.Fatalf("resourceVersion 0 list with limit 3: %d pods, continue %q; want all %d", len(all.Items), all.Continue, n)
	}
	// A consistent page continues from etcd at the page's revision.
	page, err := pods.List(ctx, metav1.ListOptions{Limit: 15})
	if err != nil {
		t.Fatal(err)
	}
	rest, err := pods.List(ctx, metav1.ListOptions{Limit: 15, Continue: page.Continue})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 15 || len(rest.Items) != n-15 || rest.ResourceVersion != page.ResourceVersion {
		t.Fatalf("pages of 15: %d then %d pods at %s/%s", len(page.Items), len(rest.Items), page.ResourceVersion, rest.ResourceVersion)
	}
	got, err := pods.Get(ctx, "p-05", metav1.GetOptions{ResourceVersion: "0"})
	if err != nil || got.Name != "p-05" {
		t.Fatalf("get at resourceVersion 0: %v %v", got, err)
	}
	if _, err := pods.Get(ctx, "missing", metav1.GetOptions{ResourceVersion: "0"}); !apierrors.IsNotFound(err) {
		t.Fatalf("get of a missing pod at resourceVersion 0: %v", err)
	}

	// An informer lists (resourceVersion 0, limit 500) and watches.
	factory := informers.NewSharedInformerFactoryWithOptions(cp.Client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().Pods().Informer()
	infCtx, stopInformers := context.WithCancel(ctx)
	factory.Start(infCtx.Done())
	defer factory.Shutdown()
	defer stopInformers()
	if !cache.WaitForCacheSync(infCtx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	if _, err := pods.Create(ctx, testPod("late"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the informer sees every pod", func() (bool, error) {
		var names []string
		for _, o := range inf.GetStore().List() {
			names = append(names, o.(*corev1.Pod).Name)
		}
		return len(names) == n+1 && slices.Contains(names, "late"), fmt.Errorf("informer has %v", names)
	})

	after := store.CacheStats()
	// n creates' lists, n/4 deletes' lists, the consistent,
	// resourceVersion 0 and first-page lists and the informer's list.
	if lists := after.ListsFromCache - before.ListsFromCache; lists < n+n/4+4 || after.ListsFromStorage != before.ListsFromStorage {
		t.Fatalf("%d lists from the cache, %d from etcd: want every list served from the cache (%+v)",
			lists, after.ListsFromStorage-before.ListsFromStorage, after)
	}
	if after.Gets-before.Gets != 2 {
		t.Fatalf("%d gets from the cache, want 2", after.Gets-before.Gets)
	}
}
