package printers

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// assertRow compares cells one by one, types included (int64 vs string).
func assertRow(t *testing.T, got, want []interface{}) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("row has %d cells %#v, want %d %#v", len(got), got, len(want), want)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("cell %d = %#v, want %#v", i, got[i], want[i])
		}
	}
}

func assertFields(t *testing.T, got fields.Set, want map[string]string) {
	t.Helper()
	if !reflect.DeepEqual(map[string]string(got), want) {
		t.Errorf("fields = %v, want %v", got, want)
	}
}

// TestRowsMatchColumns checks, for every resource, that a row has one cell
// per column, that cells are strings or int64 as upstream emits them, and
// that the columns are well formed.
func TestRowsMatchColumns(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "x", Namespace: "default", CreationTimestamp: ago(time.Minute)}
	template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
	tests := []struct {
		name    string
		columns []metav1.TableColumnDefinition
		row     []interface{}
	}{
		{"pods", PodColumns, PodRow(&corev1.Pod{ObjectMeta: meta, Spec: template.Spec})},
		{"nodes", NodeColumns, NodeRow(&corev1.Node{ObjectMeta: meta})},
		{"namespaces", NamespaceColumns, NamespaceRow(&corev1.Namespace{ObjectMeta: meta})},
		{"services", ServiceColumns, ServiceRow(&corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}})},
		{"endpoints", EndpointsColumns, EndpointsRow(&corev1.Endpoints{ObjectMeta: meta})},
		{"configmaps", ConfigMapColumns, ConfigMapRow(&corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "b"}})},
		{"secrets", SecretColumns, SecretRow(&corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque})},
		{"serviceaccounts", ServiceAccountColumns, ServiceAccountRow(&corev1.ServiceAccount{ObjectMeta: meta})},
		{"events", EventColumns, EventRow(&corev1.Event{ObjectMeta: meta})},
		{"replicationcontrollers", ReplicationControllerColumns, ReplicationControllerRow(&corev1.ReplicationController{ObjectMeta: meta, Spec: corev1.ReplicationControllerSpec{Template: &template}})},
		{"deployments", DeploymentColumns, DeploymentRow(&appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Selector: selector, Template: template}})},
		{"replicasets", ReplicaSetColumns, ReplicaSetRow(&appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Selector: selector, Template: template}})},
		{"daemonsets", DaemonSetColumns, DaemonSetRow(&appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Selector: selector, Template: template}})},
		{"jobs", JobColumns, JobRow(&batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Selector: selector, Template: template}})},
		{"leases", LeaseColumns, LeaseRow(&coordinationv1.Lease{ObjectMeta: meta})},
		{"endpointslices", EndpointSliceColumns, EndpointSliceRow(&discoveryv1.EndpointSlice{ObjectMeta: meta, AddressType: discoveryv1.AddressTypeIPv4})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.row) != len(tt.columns) {
				t.Fatalf("row has %d cells, columns %d", len(tt.row), len(tt.columns))
			}
			names := 0
			for i, c := range tt.columns {
				if c.Name == "" || c.Description == "" {
					t.Errorf("column %d %q lacks a name or description", i, c.Name)
				}
				if c.Priority != 0 && c.Priority != 1 {
					t.Errorf("column %q has priority %d", c.Name, c.Priority)
				}
				if c.Format == "name" {
					names++
					if tt.row[i] != "x" {
						t.Errorf("name cell = %#v", tt.row[i])
					}
				}
				switch tt.row[i].(type) {
				case string, int64:
				default:
					t.Errorf("column %q holds %T, want string or int64", c.Name, tt.row[i])
				}
			}
			if names != 1 {
				t.Errorf("%d columns have format name, want 1", names)
			}
		})
	}
}

// TestSelectableFields covers the resources whose field sets are a single
// status or spec value; pods, nodes and events have their own tests.
func TestSelectableFields(t *testing.T) {
	tests := []struct {
		name string
		got  fields.Set
		want map[string]string
	}{
		{"namespace", NamespaceFields(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}),
			map[string]string{"status.phase": "Terminating", "name": "ns"}},
		{"secret", SecretFields(&corev1.Secret{Type: corev1.SecretTypeTLS}), map[string]string{"type": "kubernetes.io/tls"}},
		{"service", ServiceFields(&corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Type: corev1.ServiceTypeNodePort}}),
			map[string]string{"spec.clusterIP": "10.96.0.10", "spec.type": "NodePort"}},
		{"replicationcontroller", ReplicationControllerFields(&corev1.ReplicationController{Status: corev1.ReplicationControllerStatus{Replicas: 3}}),
			map[string]string{"status.replicas": "3"}},
		{"replicaset", ReplicaSetFields(&appsv1.ReplicaSet{Status: appsv1.ReplicaSetStatus{Replicas: 2}}), map[string]string{"status.replicas": "2"}},
		{"job", JobFields(&batchv1.Job{Status: batchv1.JobStatus{Succeeded: 4}}), map[string]string{"status.successful": "4"}},
		{"node", NodeFields(&corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}}), map[string]string{"spec.unschedulable": "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assertFields(t, tt.got, tt.want) })
	}
}

func TestSimpleRows(t *testing.T) {
	created := ago(3 * time.Hour)
	meta := metav1.ObjectMeta{Name: "x", CreationTimestamp: created}
	tests := []struct {
		name string
		got  []interface{}
		want []interface{}
	}{
		{"namespace", NamespaceRow(&corev1.Namespace{ObjectMeta: meta, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}),
			[]interface{}{"x", "Active", "3h"}},
		{"configmap counts data and binaryData", ConfigMapRow(&corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": ""}, BinaryData: map[string][]byte{"b": nil}}),
			[]interface{}{"x", int64(2), "3h"}},
		{"secret", SecretRow(&corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"k": nil}}),
			[]interface{}{"x", "Opaque", int64(1), "3h"}},
		{"serviceaccount", ServiceAccountRow(&corev1.ServiceAccount{ObjectMeta: meta}), []interface{}{"x", int64(0), "3h"}},
		{"lease held", LeaseRow(&coordinationv1.Lease{ObjectMeta: meta, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1")}}),
			[]interface{}{"x", "node-1", "3h"}},
		{"lease free", LeaseRow(&coordinationv1.Lease{ObjectMeta: meta}), []interface{}{"x", "", "3h"}},
		{"no creation timestamp", NamespaceRow(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}}), []interface{}{"x", "", "<unknown>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assertRow(t, tt.got, tt.want) })
	}
}
