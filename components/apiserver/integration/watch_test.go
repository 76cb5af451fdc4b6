package integration

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/components/apiserver/registry"
)

func TestWatch(t *testing.T) {
	// Bookmarks every 100ms instead of 10s; set before the server starts
	// and restored after it stops.
	saved := registry.BookmarkInterval
	registry.BookmarkInterval = 100 * time.Millisecond
	t.Cleanup(func() { registry.BookmarkInterval = saved })
	cp := start(t)
	ns := newNamespace(t, cp.Client, "watch")
	t.Run("from resourceVersion", func(t *testing.T) { testWatchFromRV(t, cp.Client, ns) })
	t.Run("label selector transitions", func(t *testing.T) { testWatchSelectorTransitions(t, cp.Client, ns) })
	t.Run("field selector", func(t *testing.T) { testWatchFieldSelector(t, cp.Client, ns) })
	t.Run("bookmarks", func(t *testing.T) { testWatchBookmarks(t, cp.Client, ns) })
	t.Run("timeoutSeconds", func(t *testing.T) { testWatchTimeout(t, cp.Client, ns) })
	t.Run("sendInitialEvents", func(t *testing.T) { testWatchList(t, cp.Client, ns) })
	t.Run("single object", func(t *testing.T) { testWatchOneObject(t, cp, ns) })
}

// next returns the next event of w, failing after a few seconds.
func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed early")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return watch.Event{}
}

// nextNonBookmark skips bookmarks.
func nextNonBookmark(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	for {
		if ev := next(t, w); ev.Type != watch.Bookmark {
			return ev
		}
	}
}

// expectQuiet checks that no event but bookmarks arrives for a moment.
func expectQuiet(t *testing.T, w watch.Interface, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed")
			}
			if ev.Type != watch.Bookmark {
				t.Fatalf("unexpected event %s %s", ev.Type, objName(ev.Object))
			}
		case <-deadline:
			return
		}
	}
}

func objName(o any) string {
	if m, ok := o.(metav1.Object); ok {
		return m.GetName() + "@" + m.GetResourceVersion()
	}
	return fmt.Sprintf("%T", o)
}

func rvOf(t *testing.T, o any) int64 {
	t.Helper()
	m, ok := o.(metav1.Object)
	if !ok {
		t.Fatalf("event object %T has no metadata", o)
	}
	n, err := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", m.GetResourceVersion(), err)
	}
	return n
}

func testWatchFromRV(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	cms := c.CoreV1().ConfigMaps(ns)
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Write first, then watch from before the writes: history is replayed.
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w1"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["v"] = "2"
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "w1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var last int64
	for i, want := range []watch.EventType{watch.Added, watch.Modified, watch.Deleted} {
		ev := nextNonBookmark(t, w)
		got, ok := ev.Object.(*corev1.ConfigMap)
		if ev.Type != want || !ok || got.Name != "w1" {
			t.Fatalf("event %d: %s %s, want %s w1", i, ev.Type, objName(ev.Object), want)
		}
		if rv := rvOf(t, got); rv <= last {
			t.Errorf("event %d resourceVersion %d not after %d", i, rv, last)
		} else {
			last = rv
		}
		if want == watch.Modified && got.Data["v"] != "2" {
			t.Errorf("MODIFIED carries data %v", got.Data)
		}
	}
	// A live change after the replay.
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if ev := nextNonBookmark(t, w); ev.Type != watch.Added || objName(ev.Object)[:3] != "w2@" {
		t.Errorf("live event %s %s, want ADDED w2", ev.Type, objName(ev.Object))
	}
	// resourceVersion 0 starts with the current state as ADDED events.
	w0, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer w0.Stop()
	if ev := nextNonBookmark(t, w0); ev.Type != watch.Added || objName(ev.Object)[:3] != "w2@" {
		t.Errorf("watch from 0: first event %s %s, want ADDED w2", ev.Type, objName(ev.Object))
	}
}

func testWatchSelectorTransitions(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	cms := c.CoreV1().ConfigMaps(ns)
	w, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "team=a"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	label := func(name, team string) {
		t.Helper()
		patch := fmt.Sprintf(`{"metadata":{"labels":{"team":%q}}}`, team)
		if _, err := cms.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "sel", Labels: map[string]string{"team": "a"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other", Labels: map[string]string{"team": "b"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		do   func()
		want watch.EventType
		team string // label on the event's object
	}{
		{func() {}, watch.Added, "a"},
		{func() { label("sel", "b") }, watch.Deleted, "b"},
		{func() { label("other", "c") }, "", ""},
		{func() { label("sel", "a") }, watch.Added, "a"},
		{func() { label("sel", "a2"); label("sel", "a") }, watch.Deleted, "a2"},
	}
	for i, s := range steps {
		s.do()
		if s.want == "" {
			expectQuiet(t, w, 300*time.Millisecond)
			continue
		}
		ev := nextNonBookmark(t, w)
		cm, _ := ev.Object.(*corev1.ConfigMap)
		if ev.Type != s.want || cm == nil || cm.Name != "sel" || cm.Labels["team"] != s.team {
			t.Fatalf("step %d: %s %v, want %s of sel with team=%s", i, ev.Type, cm, s.want, s.team)
		}
	}
	if ev := nextNonBookmark(t, w); ev.Type != watch.Added {
		t.Errorf("after matching again: %s, want ADDED", ev.Type)
	}
}

func testWatchFieldSelector(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	pods := c.CoreV1().Pods(ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-w"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := pods.Create(ctx, testPod("fw"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectQuiet(t, w, 200*time.Millisecond)
	if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "fw"}, Target: corev1.ObjectReference{Name: "node-w"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if ev := nextNonBookmark(t, w); ev.Type != watch.Added || ev.Object.(*corev1.Pod).Spec.NodeName != "node-w" {
		t.Errorf("after binding: %s %s, want ADDED on node-w", ev.Type, objName(ev.Object))
	}
	_, err = pods.Watch(ctx, metav1.ListOptions{FieldSelector: "spec.image=x"})
	wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
}

func testWatchBookmarks(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	cms := c.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bm"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion, AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := next(t, w)
	if ev.Type != watch.Bookmark {
		t.Fatalf("idle watch with bookmarks: got %s, want BOOKMARK", ev.Type)
	}
	bm, ok := ev.Object.(*corev1.ConfigMap)
	if !ok || bm.Name != "" || rvOf(t, bm) < rvOf(t, cm) {
		t.Errorf("bookmark object %#v, want an empty ConfigMap with resourceVersion >= %s", ev.Object, cm.ResourceVersion)
	}
	// Without allowWatchBookmarks there are none.
	w2, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	select {
	case ev := <-w2.ResultChan():
		t.Errorf("watch without bookmarks got %s", ev.Type)
	case <-time.After(1500 * time.Millisecond):
	}
}

func testWatchTimeout(t *testing.T, c kubernetes.Interface, ns string) {
	start := time.Now()
	w, err := c.CoreV1().ConfigMaps(ns).Watch(t.Context(), metav1.ListOptions{TimeoutSeconds: ptr(int64(1))})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for {
		select {
		case _, ok := <-w.ResultChan():
			if ok {
				continue
			}
			if d := time.Since(start); d < 900*time.Millisecond {
				t.Errorf("watch ended after %v, want about 1s", d)
			}
			return
		case <-time.After(5 * time.Second):
			t.Fatal("watch with timeoutSeconds=1 still open after 5s")
		}
	}
}

func testWatchList(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	cms := c.CoreV1().ConfigMaps(ns)
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, it := range list.Items {
		want[it.Name] = true
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{SendInitialEvents: ptr(true), AllowWatchBookmarks: true,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	got := map[string]bool{}
	for {
		ev := next(t, w)
		if ev.Type == watch.Added {
			got[ev.Object.(*corev1.ConfigMap).Name] = true
			continue
		}
		if ev.Type != watch.Bookmark {
			t.Fatalf("initial events: unexpected %s", ev.Type)
		}
		m := ev.Object.(*corev1.ConfigMap)
		if m.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
			continue // a periodic bookmark during the initial events
		}
		if listRV, _ := strconv.ParseInt(list.ResourceVersion, 10, 64); rvOf(t, m) < listRV {
			t.Errorf("initial-events-end bookmark at %s, before the list's %s", m.ResourceVersion, list.ResourceVersion)
		}
		break
	}
	if len(got) != len(want) {
		t.Errorf("initial events named %v, want %v", got, want)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-initial"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if ev := nextNonBookmark(t, w); ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != "after-initial" {
		t.Errorf("after the initial events: %s %s", ev.Type, objName(ev.Object))
	}
	// sendInitialEvents needs bookmarks and resourceVersionMatch=NotOlderThan.
	_, err = cms.Watch(ctx, metav1.ListOptions{SendInitialEvents: ptr(true)})
	se := wantStatus(t, err, 422, metav1.StatusReasonInvalid)
	if !hasCause(se, "allowWatchBookmarks") || !hasCause(se, "resourceVersionMatch") {
		t.Errorf("invalid watch-list causes %+v", se.ErrStatus.Details)
	}
}

func testWatchOneObject(t *testing.T, cp controlPlane, ns string) {
	ctx := t.Context()
	cms := cp.Client.CoreV1().ConfigMaps(ns)
	w, err := cms.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=only-me"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, name := range []string{"not-me", "only-me"} {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if ev := nextNonBookmark(t, w); ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != "only-me" {
		t.Errorf("name-selected watch: %s %s", ev.Type, objName(ev.Object))
	}
}
