// Package apps describes the apps/v1 resources kubelab serves.
package apps

import (
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubelab/kubelab/components/apiserver/defaults"
	"github.com/kubelab/kubelab/components/apiserver/printers"
	"github.com/kubelab/kubelab/components/apiserver/registry"
	"github.com/kubelab/kubelab/components/apiserver/validation"
)

// Resources returns the apps/v1 resources.
func Resources() []*registry.Resource {
	gv := appsv1.SchemeGroupVersion
	return []*registry.Resource{
		{
			GroupVersion: gv, Name: "deployments", SingularName: "deployment", Kind: "Deployment", Namespaced: true, ShortNames: []string{"deploy"}, Categories: []string{"all"},
			New: func() runtime.Object { return &appsv1.Deployment{} }, NewList: func() runtime.Object { return &appsv1.DeploymentList{} },
			HasStatus: true,
			Scale: &registry.ScaleAccessor{
				Get: func(o runtime.Object) (int32, int32, string) {
					d := o.(*appsv1.Deployment)
					return replicas(d.Spec.Replicas), d.Status.Replicas, selector(d.Spec.Selector)
				},
				SetReplicas: func(o runtime.Object, n int32) { o.(*appsv1.Deployment).Spec.Replicas = &n },
			},
			Strategy: registry.Typed[*appsv1.Deployment]{
				Defaults: defaults.Deployment,
				Check:    validation.ValidateDeployment, CheckUpdate: validation.ValidateDeploymentUpdate,
				Columns: printers.DeploymentColumns, Row: printers.DeploymentRow,
				TrackGeneration: true,
			},
		},
		{
			GroupVersion: gv, Name: "replicasets", SingularName: "replicaset", Kind: "ReplicaSet", Namespaced: true, ShortNames: []string{"rs"}, Categories: []string{"all"},
			New: func() runtime.Object { return &appsv1.ReplicaSet{} }, NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} },
			HasStatus: true,
			Scale: &registry.ScaleAccessor{
				Get: func(o runtime.Object) (int32, int32, string) {
					rs := o.(*appsv1.ReplicaSet)
					return replicas(rs.Spec.Replicas), rs.Status.Replicas, selector(rs.Spec.Selector)
				},
				SetReplicas: func(o runtime.Object, n int32) { o.(*appsv1.ReplicaSet).Spec.Replicas = &n },
			},
			Strategy: registry.Typed[*appsv1.ReplicaSet]{
				Defaults: defaults.ReplicaSet,
				Check:    validation.ValidateReplicaSet, CheckUpdate: validation.ValidateReplicaSetUpdate,
				Columns: printers.ReplicaSetColumns, Row: printers.ReplicaSetRow, Fields: printers.ReplicaSetFields,
				TrackGeneration: true,
			},
		},
		{
			GroupVersion: gv, Name: "daemonsets", SingularName: "daemonset", Kind: "DaemonSet", Namespaced: true, ShortNames: []string{"ds"}, Categories: []string{"all"},
			New: func() runtime.Object { return &appsv1.DaemonSet{} }, NewList: func() runtime.Object { return &appsv1.DaemonSetList{} },
			HasStatus: true,
			Strategy: registry.Typed[*appsv1.DaemonSet]{
				Defaults: defaults.DaemonSet,
				Check:    validation.ValidateDaemonSet, CheckUpdate: validation.ValidateDaemonSetUpdate,
				Columns: printers.DaemonSetColumns, Row: printers.DaemonSetRow,
				TrackGeneration: true,
			},
		},
	}
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func selector(s *metav1.LabelSelector) string {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return ""
	}
	return sel.String()
}
