package endpoints_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
)

// TestWatchEncodings watches through client-go in each encoding a client
// may ask for: protobuf (client-go's default Accept, which upstream answers
// with a length-delimited protobuf stream) and JSON.
func TestWatchEncodings(t *testing.T) {
	cp := testcontrolplane.Start(t)
	// A resourceVersion from before a restart, whose next change ("later")
	// is compacted away: watches from it end with an ERROR event (410 Gone).
	stale := createConfigMap(t, cp.Client, "default", "stale")
	createConfigMap(t, cp.Client, "default", "later")
	cp.Restart()
	createConfigMap(t, cp.Client, "default", "after-restart")
	compact(t, cp)
	tests := []struct {
		name, accept, wantContentType string
	}{
		{"protobuf", "application/vnd.kubernetes.protobuf,application/json", "application/vnd.kubernetes.protobuf;stream=watch"},
		{"json", "application/json", "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			cfg := rest.CopyConfig(cp.Config)
			cfg.AcceptContentTypes = tc.accept
			cs := kubernetes.NewForConfigOrDie(cfg)
			ns := "watch-" + tc.name
			if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			cms := cs.CoreV1().ConfigMaps(ns)
			createConfigMap(t, cs, ns, "before")

			// The raw response names the stream's encoding.
			hc, err := rest.HTTPClientFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/namespaces/%s/configmaps?watch=1&timeoutSeconds=1", cfg.Host, ns), nil)
			req.Header.Set("Accept", tc.accept)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Content-Type"); got != tc.wantContentType {
				t.Fatalf("Content-Type %q, want %q", got, tc.wantContentType)
			}

			// A streaming list: the existing object, then the bookmark that ends the initial events.
			yes := true
			w, err := cms.Watch(ctx, metav1.ListOptions{SendInitialEvents: &yes, AllowWatchBookmarks: true,
				ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			expect(t, w, watch.Added, "before")
			if ev := next(t, w); ev.Type != watch.Bookmark ||
				ev.Object.(*corev1.ConfigMap).Annotations[metav1.InitialEventsAnnotationKey] != "true" {
				t.Fatalf("want the initial-events-end bookmark, got %s %+v", ev.Type, ev.Object)
			}

			cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"k": "1"}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := expect(t, w, watch.Added, "cm"); got.Data["k"] != "1" || got.ResourceVersion != cm.ResourceVersion {
				t.Fatalf("added %+v", got)
			}
			cm.Data["k"] = "2"
			if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := expect(t, w, watch.Modified, "cm"); got.Data["k"] != "2" {
				t.Fatalf("modified %+v", got)
			}
			if err := cms.Delete(ctx, "cm", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			expect(t, w, watch.Deleted, "cm")

			old, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: stale.ResourceVersion})
			if err != nil {
				t.Fatal(err)
			}
			defer old.Stop()
			ev := next(t, old)
			if st, ok := ev.Object.(*metav1.Status); ev.Type != watch.Error || !ok || st.Code != http.StatusGone {
				t.Fatalf("want an ERROR event with a 410 Status, got %s %+v", ev.Type, ev.Object)
			}
		})
	}
}

func createConfigMap(t *testing.T, cs kubernetes.Interface, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// compact compacts the control plane's etcd up to its current revision.
func compact(t *testing.T, cp *testcontrolplane.ControlPlane) {
	t.Helper()
	sock := filepath.Join(cp.DataDir, "etcd", "client.sock")
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"unix://" + sock}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	defer c.Close()
	resp, err := c.Get(t.Context(), "/registry/health-revision", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compact(t.Context(), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
}

// next returns the next event, failing the test after a deadline.
func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
	}
	return watch.Event{}
}

// expect returns the next event that is not a bookmark, which must be typ for name.
func expect(t *testing.T, w watch.Interface, typ watch.EventType, name string) *corev1.ConfigMap {
	t.Helper()
	for {
		ev := next(t, w)
		if ev.Type == watch.Bookmark {
			continue
		}
		cm, ok := ev.Object.(*corev1.ConfigMap)
		if ev.Type != typ || !ok || cm.Name != name {
			t.Fatalf("got %s %+v, want %s %s", ev.Type, ev.Object, typ, name)
		}
		return cm
	}
}
