package servicepods

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

func TestEventsPodHandler(t *testing.T) {
	svc := func(name, app string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app}}}
	}
	pod := func(app, rv string, ready corev1.ConditionStatus) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", ResourceVersion: rv, Labels: map[string]string{"app": app}},
			Status:     corev1.PodStatus{PodIP: "10.0.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}},
		}
	}
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range []*corev1.Service{svc("web", "web"), svc("db", "db")} {
		if err := idx.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		event func(h cache.ResourceEventHandler)
		want  []string
	}{
		{"add", func(h cache.ResourceEventHandler) { h.OnAdd(pod("web", "1", corev1.ConditionTrue), false) }, []string{"ns/web"}},
		{"unchanged update", func(h cache.ResourceEventHandler) {
			h.OnUpdate(pod("web", "1", corev1.ConditionTrue), pod("web", "2", corev1.ConditionTrue))
		}, nil},
		{"readiness change", func(h cache.ResourceEventHandler) {
			h.OnUpdate(pod("web", "1", corev1.ConditionFalse), pod("web", "2", corev1.ConditionTrue))
		}, []string{"ns/web"}},
		{"label change queues both", func(h cache.ResourceEventHandler) {
			h.OnUpdate(pod("web", "1", corev1.ConditionTrue), pod("db", "2", corev1.ConditionTrue))
		}, []string{"ns/db", "ns/web"}},
		{"delete tombstone", func(h cache.ResourceEventHandler) {
			h.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: pod("db", "1", corev1.ConditionTrue)})
		}, []string{"ns/db"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := workqueue.NewTyped[string]()
			defer q.ShutDown()
			e := &Events{Services: corelisters.NewServiceLister(idx), Queue: q, Triggers: NewTriggerTracker(), Now: time.Now}
			tc.event(e.PodHandler())
			var got []string
			for q.Len() > 0 {
				k, _ := q.Get()
				got = append(got, k)
				q.Done(k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("queued %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIgnoreTerminatingNamespace(t *testing.T) {
	terminating := &apierrors.StatusError{ErrStatus: metav1.Status{Reason: metav1.StatusReasonForbidden,
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}}}}
	other := apierrors.NewForbidden(schema.GroupResource{Resource: "endpoints"}, "s", errors.New("no"))
	for _, tc := range []struct {
		name    string
		err     error
		wantErr bool
	}{
		{"nil", nil, false},
		{"terminating namespace", terminating, false},
		{"other error", other, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sync := IgnoreTerminatingNamespace(func(context.Context, string) error { return tc.err })
			if err := sync(t.Context(), "ns/s"); (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}
