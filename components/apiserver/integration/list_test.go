package integration

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestList(t *testing.T) {
	cp := start(t)
	ns := newNamespace(t, cp.Client, "list")
	other := newNamespace(t, cp.Client, "list-other")
	ctx := t.Context()
	for i := range 25 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i),
			Labels: map[string]string{"parity": []string{"even", "odd"}[i%2], "index": strconv.Itoa(i)}}}
		if _, err := cp.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("pagination", func(t *testing.T) { testPagination(t, cp.Client, ns) })
	t.Run("label selectors", func(t *testing.T) { testLabelSelectors(t, cp.Client, ns) })
	t.Run("field selectors", func(t *testing.T) { testFieldSelectors(t, cp.Client, ns, other) })
	t.Run("resourceVersion", func(t *testing.T) { testListResourceVersion(t, cp.Client, cp.Config, ns) })
}

func names(items []corev1.ConfigMap) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Name)
	}
	return out
}

func testPagination(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := t.Context()
	cms := c.CoreV1().ConfigMaps(ns)
	first, err := cms.List(ctx, metav1.ListOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Items) != 10 || first.Continue == "" || first.RemainingItemCount == nil || *first.RemainingItemCount != 15 {
		t.Fatalf("first page: %d items continue %q remaining %v; want 10, a token, 15", len(first.Items), first.Continue, first.RemainingItemCount)
	}
	// Writes between pages do not show in later pages: they come from the
	// first page's snapshot.
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-99"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "cm-20", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	all := names(first.Items)
	token := first.Continue
	wantRemaining := []int64{5}
	for page := 1; token != ""; page++ {
		l, err := cms.List(ctx, metav1.ListOptions{Limit: 10, Continue: token})
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if l.ResourceVersion != first.ResourceVersion {
			t.Errorf("page %d resourceVersion %s, want the first page's %s", page, l.ResourceVersion, first.ResourceVersion)
		}
		if l.Continue != "" {
			if l.RemainingItemCount == nil || *l.RemainingItemCount != wantRemaining[page-1] {
				t.Errorf("page %d remainingItemCount %v, want %d", page, l.RemainingItemCount, wantRemaining[page-1])
			}
		} else if l.RemainingItemCount != nil {
			t.Errorf("last page has remainingItemCount %d", *l.RemainingItemCount)
		}
		all = append(all, names(l.Items)...)
		token = l.Continue
	}
	var want []string
	for i := range 25 {
		want = append(want, fmt.Sprintf("cm-%02d", i))
	}
	if !slices.Equal(all, want) {
		t.Errorf("paged list %v, want the 25 original names in order", all)
	}
	// A new list sees the writes.
	now, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := names(now.Items); len(n) != 25 || !slices.Contains(n, "cm-99") || slices.Contains(n, "cm-20") {
		t.Errorf("fresh list %v, want cm-99 and no cm-20", n)
	}
	// A selector hides remainingItemCount (it would be a guess).
	l, err := cms.List(ctx, metav1.ListOptions{Limit: 3, LabelSelector: "parity=odd"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 3 || l.Continue == "" || l.RemainingItemCount != nil {
		t.Errorf("selected page: %d items continue %q remaining %v", len(l.Items), l.Continue, l.RemainingItemCount)
	}
	_, err = cms.List(ctx, metav1.ListOptions{Limit: 3, Continue: "not-a-token"})
	wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
}

func testLabelSelectors(t *testing.T, c kubernetes.Interface, ns string) {
	cases := []struct {
		selector string
		want     int
	}{
		// cm-20 (even) was deleted and cm-99 has no labels.
		{"parity=even", 12},
		{"parity!=even", 13},
		{"index in (1,2,3)", 3},
		{"parity=odd,index notin (1,3)", 10},
		{"index", 24},
		{"!index", 1},
		{"parity=purple", 0},
	}
	for _, tc := range cases {
		l, err := c.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{LabelSelector: tc.selector})
		if err != nil {
			t.Errorf("%s: %v", tc.selector, err)
			continue
		}
		if len(l.Items) != tc.want {
			t.Errorf("labelSelector %q: %d items %v, want %d", tc.selector, len(l.Items), names(l.Items), tc.want)
		}
	}
	_, err := c.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "a in (b"})
	wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
}

func testFieldSelectors(t *testing.T, c kubernetes.Interface, ns, other string) {
	ctx := t.Context()
	pods := c.CoreV1().Pods(ns)
	for _, name := range []string{"fs-a", "fs-b"} {
		if _, err := pods.Create(ctx, testPod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "fs-b"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-7"}}
	if err := pods.Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pb, err := pods.Get(ctx, "fs-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pb.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(ctx, pb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Pods(other).Create(ctx, testPod("fs-c"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		namespace, selector string
		want                []string
	}{
		{ns, "metadata.name=fs-a", []string{"fs-a"}},
		{ns, "metadata.name!=fs-a", []string{"fs-b"}},
		{"", "metadata.namespace=" + other, []string{"fs-c"}},
		{"", "metadata.namespace!=" + other + ",metadata.name!=fs-a", []string{"fs-b"}},
		{ns, "spec.nodeName=node-7", []string{"fs-b"}},
		{"", "spec.nodeName=", []string{"fs-a", "fs-c"}},
		{ns, "status.phase=Running", []string{"fs-b"}},
		{ns, "status.phase=Pending", []string{"fs-a"}},
		{ns, "status.phase!=Pending,spec.nodeName=node-7", []string{"fs-b"}},
	}
	for _, tc := range cases {
		l, err := c.CoreV1().Pods(tc.namespace).List(ctx, metav1.ListOptions{FieldSelector: tc.selector})
		if err != nil {
			t.Errorf("%s: %v", tc.selector, err)
			continue
		}
		var got []string
		for _, p := range l.Items {
			got = append(got, p.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("fieldSelector %q in %q: %v, want %v", tc.selector, tc.namespace, got, tc.want)
		}
	}
	_, err = pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.containers=foo"})
	se := wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
	if se.ErrStatus.Message != `field label not supported: spec.containers` {
		t.Errorf("unsupported field message %q", se.ErrStatus.Message)
	}
	_, err = c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=x"})
	wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
}

func testListResourceVersion(t *testing.T, c kubernetes.Interface, cfg *rest.Config, ns string) {
	ctx := t.Context()
	cms := c.CoreV1().ConfigMaps(ns)
	before, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	exact, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: before.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if err != nil {
		t.Fatal(err)
	}
	if len(exact.Items) != len(before.Items) || exact.ResourceVersion != before.ResourceVersion {
		t.Errorf("exact list at %s: %d items rv %s, want %d items", before.ResourceVersion, len(exact.Items), exact.ResourceVersion, len(before.Items))
	}
	latest, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: before.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil {
		t.Fatal(err)
	}
	if len(latest.Items) != len(before.Items)+1 {
		t.Errorf("NotOlderThan list: %d items, want %d", len(latest.Items), len(before.Items)+1)
	}
	rv, _ := strconv.ParseInt(latest.ResourceVersion, 10, 64)
	// A resourceVersion from the future is a 504 that reflectors recognise
	// (a ResourceVersionTooLarge cause) and clients retry after 1s.
	resp := do(t, cfg, "GET", "/api/v1/namespaces/"+ns+"/configmaps?resourceVersionMatch=NotOlderThan&resourceVersion="+strconv.FormatInt(rv+1000, 10), nil)
	st := resp.status(t)
	if resp.code != 504 || st.Reason != metav1.StatusReasonTimeout || resp.header.Get("Retry-After") != "1" ||
		!apierrors.HasStatusCause(&apierrors.StatusError{ErrStatus: st}, metav1.CauseTypeResourceVersionTooLarge) {
		t.Errorf("list from a future resourceVersion: %d Retry-After %q %s", resp.code, resp.header.Get("Retry-After"), resp.body)
	}
	_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: "abc"})
	wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
}
