// Package discovery describes the discovery.k8s.io/v1 resources kubelab serves.
package discovery

import (
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubelab/kubelab/components/apiserver/defaults"
	"github.com/kubelab/kubelab/components/apiserver/printers"
	"github.com/kubelab/kubelab/components/apiserver/registry"
	"github.com/kubelab/kubelab/components/apiserver/validation"
)

// Resources returns the discovery.k8s.io/v1 resources.
func Resources() []*registry.Resource {
	return []*registry.Resource{{
		GroupVersion: discoveryv1.SchemeGroupVersion, Name: "endpointslices", SingularName: "endpointslice", Kind: "EndpointSlice", Namespaced: true,
		New: func() runtime.Object { return &discoveryv1.EndpointSlice{} }, NewList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Strategy: registry.Typed[*discoveryv1.EndpointSlice]{
			Defaults: defaults.EndpointSlice,
			Check:    validation.ValidateEndpointSlice, CheckUpdate: validation.ValidateEndpointSliceUpdate,
			Columns: printers.EndpointSliceColumns, Row: printers.EndpointSliceRow,
			TrackGeneration: true,
		},
	}}
}
