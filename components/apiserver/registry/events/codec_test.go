package events

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
)

func TestCodecRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 123456000, time.UTC)
	meta := metav1.ObjectMeta{
		Name: "web-1.17f3", Namespace: "default", UID: "uid-1", ResourceVersion: "42",
		Labels: map[string]string{"a": "b"}, CreationTimestamp: metav1.NewTime(now),
	}
	regarding := corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1", UID: "pod-uid", APIVersion: "v1", ResourceVersion: "40", FieldPath: "spec.containers{web}"}
	related := &corev1.ObjectReference{Kind: "Node", Name: "node-1"}
	tests := []struct {
		name   string
		served *eventsv1.Event
		stored *corev1.Event
	}{
		{
			name: "every field",
			served: &eventsv1.Event{
				ObjectMeta: meta, EventTime: metav1.NewMicroTime(now),
				Series:              &eventsv1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(now.Add(time.Minute))},
				ReportingController: "kubelab.io/kubelet", ReportingInstance: "kubelet-node-1",
				Action: "Pulling", Reason: "Pulled", Regarding: regarding, Related: related,
				Note: "pulled image", Type: corev1.EventTypeNormal,
				DeprecatedSource:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
				DeprecatedFirstTimestamp: metav1.NewTime(now.Add(-time.Hour)),
				DeprecatedLastTimestamp:  metav1.NewTime(now),
				DeprecatedCount:          5,
			},
			stored: &corev1.Event{
				ObjectMeta: meta, EventTime: metav1.NewMicroTime(now),
				Series:              &corev1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(now.Add(time.Minute))},
				ReportingController: "kubelab.io/kubelet", ReportingInstance: "kubelet-node-1",
				Action: "Pulling", Reason: "Pulled", InvolvedObject: regarding, Related: related,
				Message: "pulled image", Type: corev1.EventTypeNormal,
				Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
				FirstTimestamp: metav1.NewTime(now.Add(-time.Hour)),
				LastTimestamp:  metav1.NewTime(now),
				Count:          5,
			},
		},
		{
			name:   "minimal",
			served: &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}, Regarding: corev1.ObjectReference{Kind: "Node", Name: "n"}},
			stored: &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}, InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "n"}},
		},
	}
	c := Codec{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.served.APIVersion, tt.served.Kind = "events.k8s.io/v1", "Event"
			tt.stored.APIVersion, tt.stored.Kind = "v1", "Event"
			original := tt.served.DeepCopy()

			stored, err := c.ToStored(tt.served)
			if err != nil {
				t.Fatal(err)
			}
			if !apiequality.Semantic.DeepEqual(stored, tt.stored) {
				t.Errorf("ToStored:\n%s", diff.Diff(tt.stored, stored))
			}
			served, err := c.FromStored(stored)
			if err != nil {
				t.Fatal(err)
			}
			if !apiequality.Semantic.DeepEqual(served, original) {
				t.Errorf("round trip:\n%s", diff.Diff(original, served))
			}
			if !apiequality.Semantic.DeepEqual(tt.served, original) {
				t.Error("ToStored modified its input")
			}
			// The stored object must not share memory with the served one.
			if s := stored.(*corev1.Event); s.Related != nil && s.Related == tt.served.Related {
				t.Error("ToStored shares related with its input")
			}
		})
	}
}

func TestCodecRejectsOtherTypes(t *testing.T) {
	c := Codec{}
	tests := []struct {
		name string
		conv func(runtime.Object) (runtime.Object, error)
		obj  runtime.Object
	}{
		{"ToStored core event", c.ToStored, &corev1.Event{}},
		{"FromStored events event", c.FromStored, &eventsv1.Event{}},
		{"ToStored pod", c.ToStored, &corev1.Pod{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.conv(tt.obj); err == nil {
				t.Error("want an error")
			}
		})
	}
	if _, ok := c.NewStored().(*corev1.Event); !ok {
		t.Errorf("NewStored = %T", c.NewStored())
	}
}

func TestFieldLabel(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"regarding.name", "involvedObject.name", true},
		{"regarding.kind", "involvedObject.kind", true},
		{"reportingController", "reportingComponent", true},
		{"type", "type", true},
		{"source", "source", true},
		{"metadata.namespace", "metadata.namespace", true},
		{"involvedObject.name", "", false},
		{"note", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := FieldLabel(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("FieldLabel(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
