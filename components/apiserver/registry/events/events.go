// Package events describes the events.k8s.io/v1 resource kubelab serves. Its
// objects are stored as core/v1 Events, as upstream does, so both APIs see
// the same events.
package events

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubelab/kubelab/components/apiserver/printers"
	"github.com/kubelab/kubelab/components/apiserver/registry"
	"github.com/kubelab/kubelab/components/apiserver/validation"
)

// Resources returns the events.k8s.io/v1 resources.
func Resources() []*registry.Resource {
	return []*registry.Resource{{
		GroupVersion: eventsv1.SchemeGroupVersion, Name: "events", SingularName: "event", Kind: "Event", Namespaced: true, ShortNames: []string{"ev"},
		StorageResource: "events", NoWatchCache: true,
		New: func() runtime.Object { return &eventsv1.Event{} }, NewList: func() runtime.Object { return &eventsv1.EventList{} },
		Codec: Codec{},
		Strategy: registry.Typed[*corev1.Event]{
			Check: validation.ValidateEvent, CheckUpdate: validation.ValidateEventUpdate,
			Columns: printers.EventColumns, Row: printers.EventRow, Fields: printers.EventFields,
		},
	}}
}
