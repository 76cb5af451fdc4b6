package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestRestartAndCompaction checks that objects and resourceVersions survive
// a restart, and that lists and watches from a compacted revision are 410
// Expired. The watch needs the restart: a running server serves recent
// history from memory, as upstream's watch cache does, whatever etcd
// compacted; after a restart that history starts anew.
func TestRestartAndCompaction(t *testing.T) {
	cp := start(t)
	ctx := t.Context()
	ns := newNamespace(t, cp.Client, "restart")
	before := map[string]*corev1.ConfigMap{}
	for i := range 5 {
		cm, err := cp.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("keep-%d", i)}, Data: map[string]string{"i": strconv.Itoa(i)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before[cm.Name] = cm
	}
	svc, err := cp.Client.CoreV1().Services(ns).Create(ctx, nodePortService("keep-svc"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := cp.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{Limit: 2})
	if err != nil || page.Continue == "" {
		t.Fatalf("first page: %v continue %q", err, page.Continue)
	}
	oldRV, _ := strconv.ParseInt(page.ResourceVersion, 10, 64)
	// One more write, so that the page's revision is older than anything
	// the restarted server keeps in memory.
	if _, err := cp.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "later"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	cp.Restart()
	cms := cp.Client.CoreV1().ConfigMaps(ns)
	for name, want := range before {
		got, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s after restart: %v", name, err)
		}
		if got.UID != want.UID || got.ResourceVersion != want.ResourceVersion || got.Data["i"] != want.Data["i"] ||
			!got.CreationTimestamp.Equal(&want.CreationTimestamp) {
			t.Errorf("%s changed across the restart: %+v, was %+v", name, got.ObjectMeta, want.ObjectMeta)
		}
	}
	fresh, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rv, _ := strconv.ParseInt(fresh.ResourceVersion, 10, 64); rv <= oldRV {
		t.Errorf("resourceVersion after restart %d, not above %d from before", rv, oldRV)
	}
	// Allocations survive too: the service's node port is still taken.
	dup := nodePortService("dup-svc")
	dup.Spec.Ports[0].NodePort = svc.Spec.Ports[0].NodePort
	_, err = cp.Client.CoreV1().Services(ns).Create(ctx, dup, metav1.CreateOptions{})
	wantStatus(t, err, 422, metav1.StatusReasonInvalid)
	if _, err := cp.Client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err != nil {
		t.Errorf("the kubernetes service after restart: %v", err)
	}

	compact(t, cp)
	_, err = cms.List(ctx, metav1.ListOptions{Limit: 2, Continue: page.Continue})
	se := wantStatus(t, err, 410, metav1.StatusReasonExpired)
	if se.ErrStatus.Message != "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter." {
		t.Errorf("expired continue message %q", se.ErrStatus.Message)
	}
	_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: page.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	wantStatus(t, err, 410, metav1.StatusReasonExpired)

	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: page.ResourceVersion})
	if err != nil {
		t.Fatalf("watch from a compacted revision: %v (want an ERROR event)", err)
	}
	defer w.Stop()
	ev := next(t, w)
	st, ok := ev.Object.(*metav1.Status)
	if ev.Type != watch.Error || !ok || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("watch from a compacted revision: %s %#v, want ERROR 410 Expired", ev.Type, ev.Object)
	}
	if _, open := <-w.ResultChan(); open {
		t.Errorf("watch still open after its ERROR event")
	}
	// The raw protocol: a 200 stream whose one event is the ERROR.
	resp := do(t, cp.Config, "GET", "/api/v1/namespaces/"+ns+"/configmaps?watch=true&resourceVersion="+page.ResourceVersion, nil)
	if resp.code != 200 || !containsAll(string(resp.body), `"type":"ERROR"`, `"code":410`, `"reason":"Expired"`) {
		t.Errorf("raw watch from a compacted revision: %d %s", resp.code, resp.body)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
