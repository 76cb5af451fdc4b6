// Package coordination describes the coordination.k8s.io/v1 resources kubelab serves.
package coordination

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubelab/kubelab/components/apiserver/printers"
	"github.com/kubelab/kubelab/components/apiserver/registry"
	"github.com/kubelab/kubelab/components/apiserver/validation"
)

// Resources returns the coordination.k8s.io/v1 resources.
func Resources() []*registry.Resource {
	return []*registry.Resource{{
		GroupVersion: coordinationv1.SchemeGroupVersion, Name: "leases", SingularName: "lease", Kind: "Lease", Namespaced: true,
		AllowCreateOnUpdate: true,
		New:                 func() runtime.Object { return &coordinationv1.Lease{} }, NewList: func() runtime.Object { return &coordinationv1.LeaseList{} },
		Strategy: registry.Typed[*coordinationv1.Lease]{
			Check: validation.ValidateLease, CheckUpdate: validation.ValidateLeaseUpdate,
			Columns: printers.LeaseColumns, Row: printers.LeaseRow,
		},
	}}
}
