package endpoints_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubelab/kubelab/components/apiserver/endpoints"
	"github.com/kubelab/kubelab/components/apiserver/registry"
	"github.com/kubelab/kubelab/components/apiserver/registry/core"
	"github.com/kubelab/kubelab/components/apiserver/storage"
)

// TestCachedReadsLeaveTheCacheAlone serves lists, gets and watches from a
// watch cache in every output form (JSON, YAML, protobuf, Table with and
// without objects, partial metadata) while the pods change, then checks
// that the cache still holds exactly what etcd does: no output path wrote
// into the shared cached objects (run with -race, neither concurrently).
func TestCachedReadsLeaveTheCacheAlone(t *testing.T) {
	ctx := t.Context()
	e, err := storage.StartEmbedded(ctx, storage.EmbeddedOptions{Dir: t.TempDir(), UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	st := storage.New(e.Client)
	t.Cleanup(st.Close)
	var cached, direct *registry.Store
	for _, res := range core.Resources() {
		if res.Name == "pods" {
			cached = registry.NewStore(res, st, nil, registry.Hooks{})
			direct = registry.NewStore(res, st, nil, registry.Hooks{})
		}
	}
	if err := st.StartWatching(ctx, cached.Prefix()); err != nil {
		t.Fatal(err)
	}
	// Only a broken cache is slow enough to send a read to etcd.
	old := registry.ConsistentReadTimeout
	registry.ConsistentReadTimeout = time.Minute
	t.Cleanup(func() { registry.ConsistentReadTimeout = old })
	cached.StartWatchCache(ctx)
	wo := registry.WriteOptions{FieldManager: "test"}
	const pods = 12
	for i := range pods {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%02d", i), Namespace: "ns",
				Labels: map[string]string{"app": "a"}, Annotations: map[string]string{"n": "1"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "rc", UID: "u1"}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
				Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}},
		}
		if _, err := direct.Create(ctx, "ns", p, wo); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !cached.CacheStats().Ready {
		if time.Now().After(deadline) {
			t.Fatal("watch cache not ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A consistent list waits until the cache has every pod: reads at
	// resourceVersion 0 may be served from an older state.
	if _, err := cached.List(ctx, "ns", registry.ListOptions{}); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(endpoints.New([]*registry.Store{cached}))
	defer srv.Close()
	const table = "application/json;as=Table;v=v1;g=meta.k8s.io"
	requests := []struct{ path, accept string }{
		{"/api/v1/namespaces/ns/pods", "application/json"},
		{"/api/v1/pods?resourceVersion=0&limit=3", "application/json"},
		{"/api/v1/namespaces/ns/pods?limit=5", "application/vnd.kubernetes.protobuf"},
		{"/api/v1/namespaces/ns/pods?labelSelector=app%3Da", "application/vnd.kubernetes.protobuf"},
		{"/api/v1/namespaces/ns/pods", "application/yaml"},
		{"/api/v1/namespaces/ns/pods?includeObject=Object", table},
		{"/api/v1/namespaces/ns/pods?includeObject=None", table},
		{"/api/v1/namespaces/ns/pods", table},
		{"/api/v1/namespaces/ns/pods", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"},
		{"/api/v1/namespaces/ns/pods/p-01?resourceVersion=0", "application/json"},
		{"/api/v1/namespaces/ns/pods/p-02?resourceVersion=0", "application/vnd.kubernetes.protobuf"},
		{"/api/v1/namespaces/ns/pods/p-03?resourceVersion=0&includeObject=Object", table},
		{"/api/v1/namespaces/ns/pods/p-04/status?resourceVersion=0", "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"},
		{"/api/v1/namespaces/ns/pods?watch=1&resourceVersion=0&timeoutSeconds=1", "application/json"},
		{"/api/v1/namespaces/ns/pods?watch=1&resourceVersion=0&timeoutSeconds=1", "application/vnd.kubernetes.protobuf"},
		{"/api/v1/namespaces/ns/pods?watch=1&resourceVersion=0&timeoutSeconds=1&includeObject=Object", table},
	}
	do := func(path, accept string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", accept)
		resp, err := srv.Client().Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s (%s): %d %s", path, accept, resp.StatusCode, body)
		}
		return nil
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("p-%02d", i%pods)
			_, err := direct.GuaranteedUpdate(ctx, "ns", name, "", wo, func(obj runtime.Object) (runtime.Object, error) {
				obj.(*corev1.Pod).Labels["i"] = fmt.Sprint(i)
				return obj, nil
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	})
	errs := make(chan error, len(requests))
	var readers sync.WaitGroup
	for _, rq := range requests {
		readers.Go(func() {
			for range 5 {
				if err := do(rq.path, rq.accept); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	readers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	want, err := direct.List(ctx, "ns", registry.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cached.List(ctx, "ns", registry.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Fatalf("the cache changed under its readers:\ncache   %+v\nstorage %+v", got, want)
	}
	if s := cached.CacheStats(); s.ListsFromCache == 0 || s.Gets == 0 || s.ListsFromStorage != 0 {
		t.Fatalf("stats %+v: want lists and gets served from the cache", s)
	}
}
