package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEventRow(t *testing.T) {
	pod := corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1", FieldPath: "spec.containers{web}"}
	tests := []struct {
		name  string
		event corev1.Event
		want  []interface{}
	}{
		{
			name: "core event",
			event: corev1.Event{
				InvolvedObject: pod, Type: corev1.EventTypeNormal, Reason: "Pulled", Message: "  Container image pulled\n",
				Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
				FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(2 * time.Minute), Count: 4,
			},
			want: []interface{}{"2m", "Normal", "Pulled", "pod/web-1", "spec.containers{web}", "kubelet, node-1",
				"Container image pulled", "10m", int64(4), "e"},
		},
		{
			name: "events.k8s.io singleton falls back to eventTime and reporting controller",
			event: corev1.Event{
				InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "node-1"}, Type: corev1.EventTypeWarning, Reason: "Rebooted",
				EventTime: metav1.NewMicroTime(ago(3 * time.Minute).Time), ReportingController: "kubelab.io/kubelet", ReportingInstance: "kubelet-node-1",
			},
			want: []interface{}{"3m", "Warning", "Rebooted", "node/node-1", "", "kubelab.io/kubelet, kubelet-node-1", "", "3m", int64(1), "e"},
		},
		{
			name: "series",
			event: corev1.Event{
				InvolvedObject: pod, Reason: "BackOff", Source: corev1.EventSource{Component: "kubelet"},
				EventTime: metav1.NewMicroTime(ago(20 * time.Minute).Time),
				Series:    &corev1.EventSeries{Count: 12, LastObservedTime: metav1.NewMicroTime(ago(30 * time.Second).Time)},
			},
			want: []interface{}{"30s", "", "BackOff", "pod/web-1", "spec.containers{web}", "kubelet", "", "20m", int64(12), "e"},
		},
		{
			name:  "no times, no name in reference",
			event: corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "ClusterRole"}},
			want:  []interface{}{"<unknown>", "", "", "clusterrole", "", "", "", "<unknown>", int64(1), "e"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.event.Name = "e"
			assertRow(t, EventRow(&tt.event), tt.want)
		})
	}
}

func TestEventFields(t *testing.T) {
	tests := []struct {
		name   string
		event  corev1.Event
		source string
	}{
		{name: "source component", event: corev1.Event{Source: corev1.EventSource{Component: "kubelet"}, ReportingController: "kubelab.io/kubelet"}, source: "kubelet"},
		{name: "reporting controller", event: corev1.Event{ReportingController: "kubelab.io/kubelet"}, source: "kubelab.io/kubelet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.event
			e.InvolvedObject = corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "p", UID: "u", APIVersion: "v1", ResourceVersion: "7", FieldPath: "spec"}
			e.Reason, e.Type = "Started", "Normal"
			assertFields(t, EventFields(&e), map[string]string{
				"involvedObject.kind": "Pod", "involvedObject.namespace": "ns", "involvedObject.name": "p",
				"involvedObject.uid": "u", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "7",
				"involvedObject.fieldPath": "spec", "reason": "Started", "reportingComponent": e.ReportingController,
				"source": tt.source, "type": "Normal",
			})
		})
	}
}
