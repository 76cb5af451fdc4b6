package events

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubelab/kubelab/components/apiserver/registry"
)

// Codec converts events.k8s.io/v1 Events to and from the core/v1 Events they
// are stored as, field for field as upstream's conversion does: regarding is
// involvedObject, note is message, reportingController is reportingComponent,
// deprecatedSource/FirstTimestamp/LastTimestamp/Count are source,
// firstTimestamp, lastTimestamp and count; metadata, eventTime, series,
// action, related, reason, type and reportingInstance are copied.
type Codec struct{}

var _ registry.VersionCodec = Codec{}

// NewStored returns an empty core/v1 Event.
func (Codec) NewStored() runtime.Object { return &corev1.Event{} }

// ToStored converts an events.k8s.io/v1 Event into a core/v1 Event.
func (Codec) ToStored(obj runtime.Object) (runtime.Object, error) {
	in, ok := obj.(*eventsv1.Event)
	if !ok {
		return nil, fmt.Errorf("convert %T to a core/v1 Event: not an events.k8s.io/v1 Event", obj)
	}
	in = in.DeepCopy()
	out := &corev1.Event{
		ObjectMeta:          in.ObjectMeta,
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Action:              in.Action,
		Related:             in.Related,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	out.APIVersion, out.Kind = corev1.SchemeGroupVersion.String(), "Event"
	if in.Series != nil {
		out.Series = &corev1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	return out, nil
}

// FromStored converts a core/v1 Event into an events.k8s.io/v1 Event.
func (Codec) FromStored(obj runtime.Object) (runtime.Object, error) {
	in, ok := obj.(*corev1.Event)
	if !ok {
		return nil, fmt.Errorf("convert %T to an events.k8s.io/v1 Event: not a core/v1 Event", obj)
	}
	in = in.DeepCopy()
	out := &eventsv1.Event{
		ObjectMeta:               in.ObjectMeta,
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Related:                  in.Related,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	out.APIVersion, out.Kind = eventsv1.SchemeGroupVersion.String(), "Event"
	if in.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	return out, nil
}

// fieldLabels maps the field selector labels of events.k8s.io/v1 onto the
// core/v1 fields printers.EventFields returns, as upstream's
// AddFieldLabelConversionsForEvent does.
var fieldLabels = map[string]string{
	"metadata.name":             "metadata.name",
	"metadata.namespace":        "metadata.namespace",
	"reason":                    "reason",
	"type":                      "type",
	"reportingController":       "reportingComponent",
	"source":                    "source",
	"regarding.kind":            "involvedObject.kind",
	"regarding.namespace":       "involvedObject.namespace",
	"regarding.name":            "involvedObject.name",
	"regarding.uid":             "involvedObject.uid",
	"regarding.apiVersion":      "involvedObject.apiVersion",
	"regarding.resourceVersion": "involvedObject.resourceVersion",
	"regarding.fieldPath":       "involvedObject.fieldPath",
}

// FieldLabel maps an events.k8s.io/v1 field selector label to the stored
// core/v1 one, and reports false for a label the API does not support
// (upstream answers 400 "field label not supported").
func FieldLabel(label string) (string, bool) {
	l, ok := fieldLabels[label]
	return l, ok
}
