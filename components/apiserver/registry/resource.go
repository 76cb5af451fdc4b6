// Package registry holds the generic store every API resource is served
// through, and the contract (Resource, Strategy) a resource implements to
// plug into it. Per-resource behaviour lives in registry/<group>.
package registry

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one served resource: its names, its Go types and the
// strategy that gives it its semantics.
type Resource struct {
	// GroupVersion the resource is served under ("" group for core/v1).
	GroupVersion schema.GroupVersion
	// Name is the plural resource name ("pods").
	Name string
	// SingularName is the singular name ("pod").
	SingularName string
	// Kind is the object kind ("Pod"); the list kind is Kind+"List".
	Kind string
	// Namespaced is true for namespaced resources.
	Namespaced bool
	// ShortNames as shown by kubectl api-resources ("po").
	ShortNames []string
	// Categories such as "all".
	Categories []string
	// StorageResource overrides the etcd key prefix resource name when two
	// resources share storage (events.k8s.io events are stored as core events).
	StorageResource string
	// New returns an empty object; NewList an empty list.
	New     func() runtime.Object
	NewList func() runtime.Object
	// Strategy gives the resource its defaulting, validation and printing.
	Strategy Strategy
	// HasStatus is true when the resource has a status subresource; its
	// object must then have a Status field.
	HasStatus bool
	// CreateWithStatus keeps the status given on create (nodes); other
	// resources with status start with an empty one.
	CreateWithStatus bool
	// AllowCreateOnUpdate lets PUT create a missing object, as upstream does
	// for services, endpoints, events and leases.
	AllowCreateOnUpdate bool
	// DefaultPropagation is the deletion propagation when a request names
	// none (upstream: Orphan for batch/v1 jobs and core replicationcontrollers'
	// legacy clients, Background otherwise).
	DefaultPropagation string
	// Scale, when set, serves the scale subresource.
	Scale *ScaleAccessor
	// GracePeriod returns the graceful deletion period for obj given the
	// request's gracePeriodSeconds; 0 deletes at once. Nil: always 0.
	GracePeriod func(obj runtime.Object, requested *int64) int64
	// PendingFinalizers reports resource-specific finalization still to do
	// (a namespace's spec.finalizers); the object then stays until it is done.
	PendingFinalizers func(obj runtime.Object) bool
	// PrepareForDelete adjusts an object whose deletion starts but cannot
	// complete yet (a namespace becomes Terminating).
	PrepareForDelete func(obj runtime.Object)
	// NoWatchCache keeps every read of the resource on etcd even when the
	// API server runs watch caches (upstream sizes the events cache 0:
	// events are many, short-lived and rarely listed).
	NoWatchCache bool
	// Codec converts between the served version and the stored object when
	// they differ (events.k8s.io/v1 <-> core/v1). Nil when they are the same.
	// Strategy functions always receive the stored type.
	Codec VersionCodec
}

// GVK returns the resource's group, version and kind.
func (r *Resource) GVK() schema.GroupVersionKind {
	return r.GroupVersion.WithKind(r.Kind)
}

// GVR returns the resource's group, version and resource.
func (r *Resource) GVR() schema.GroupVersionResource {
	return r.GroupVersion.WithResource(r.Name)
}

// ScaleAccessor reads and writes the replica fields behind a scale subresource.
type ScaleAccessor struct {
	// Replicas returns spec.replicas (defaulted), status.replicas and the
	// selector in string form (status.selector of autoscaling/v1 Scale).
	Get func(obj runtime.Object) (specReplicas, statusReplicas int32, selector string)
	// SetReplicas sets spec.replicas.
	SetReplicas func(obj runtime.Object, replicas int32)
}

// VersionCodec converts a served object to and from its stored form.
type VersionCodec interface {
	// ToStored converts a served object into the stored type.
	ToStored(obj runtime.Object) (runtime.Object, error)
	// FromStored converts a stored object into the served type.
	FromStored(obj runtime.Object) (runtime.Object, error)
	// NewStored returns an empty stored object.
	NewStored() runtime.Object
}

// Strategy is the per-resource behaviour the generic store calls. Embed
// DefaultStrategy to get no-op implementations and override what matters.
//
// Order on create: PrepareForCreate, Default, Validate.
// Order on update: PrepareForUpdate (status already reset by the store), Default, ValidateUpdate.
type Strategy interface {
	// PrepareForCreate adjusts a new object before defaulting, for example a
	// pod's initial phase or a namespace's finalizers. The store has already
	// cleared status for resources with a status subresource.
	PrepareForCreate(obj runtime.Object)
	// PrepareForUpdate adjusts an update of old to obj before defaulting.
	PrepareForUpdate(obj, old runtime.Object)
	// Default fills in the defaults users rely on. It must be idempotent.
	Default(obj runtime.Object)
	// Validate checks a new object, metadata included.
	Validate(obj runtime.Object) field.ErrorList
	// ValidateUpdate checks an update of old to obj, metadata and immutable
	// fields included.
	ValidateUpdate(obj, old runtime.Object) field.ErrorList
	// ValidateStatusUpdate checks a write through the status subresource.
	ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList
	// TableColumns are the columns of `kubectl get` for this resource, as
	// upstream prints them. Priority 1 columns show only with -o wide.
	// The store prepends nothing: the first column must be Name.
	TableColumns() []metav1.TableColumnDefinition
	// TableRow returns the cells of one object, one per column.
	TableRow(obj runtime.Object) []interface{}
	// SelectableFields returns the fields a fieldSelector may use beyond
	// metadata.name and metadata.namespace, which the store adds itself.
	SelectableFields(obj runtime.Object) fields.Set
	// GenerationTracked is true when metadata.generation is kept and bumped
	// on changes outside metadata and status.
	GenerationTracked() bool
}

// DefaultStrategy implements Strategy with neutral behaviour: no defaults, no
// extra validation, Name/Age table columns, no extra selectable fields.
type DefaultStrategy struct{}

var _ Strategy = DefaultStrategy{}

// PrepareForCreate does nothing.
func (DefaultStrategy) PrepareForCreate(runtime.Object) {}

// PrepareForUpdate does nothing.
func (DefaultStrategy) PrepareForUpdate(_, _ runtime.Object) {}

// Default does nothing.
func (DefaultStrategy) Default(runtime.Object) {}

// Validate accepts everything.
func (DefaultStrategy) Validate(runtime.Object) field.ErrorList { return nil }

// ValidateUpdate accepts everything.
func (DefaultStrategy) ValidateUpdate(_, _ runtime.Object) field.ErrorList { return nil }

// ValidateStatusUpdate accepts everything.
func (DefaultStrategy) ValidateStatusUpdate(_, _ runtime.Object) field.ErrorList { return nil }

// TableColumns returns Name and Age.
func (DefaultStrategy) TableColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{NameColumn, AgeColumn}
}

// TableRow returns the name and age of obj.
func (DefaultStrategy) TableRow(obj runtime.Object) []interface{} {
	m := MetaOf(obj)
	return []interface{}{m.GetName(), Age(m.GetCreationTimestamp())}
}

// SelectableFields returns no extra fields.
func (DefaultStrategy) SelectableFields(runtime.Object) fields.Set { return nil }

// GenerationTracked returns false.
func (DefaultStrategy) GenerationTracked() bool { return false }
