package registry

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Typed builds a Strategy from typed functions; nil functions fall back to
// DefaultStrategy. Per-resource packages describe their behaviour with it.
type Typed[T runtime.Object] struct {
	PrepareCreate   func(obj T)
	PrepareUpdate   func(obj, old T)
	Defaults        func(obj T)
	Check           func(obj T) field.ErrorList
	CheckUpdate     func(obj, old T) field.ErrorList
	CheckStatus     func(obj, old T) field.ErrorList
	Columns         []metav1.TableColumnDefinition
	Row             func(obj T) []interface{}
	Fields          func(obj T) fields.Set
	TrackGeneration bool
}

var _ Strategy = Typed[runtime.Object]{}

// PrepareForCreate implements Strategy.
func (s Typed[T]) PrepareForCreate(obj runtime.Object) {
	if s.PrepareCreate != nil {
		s.PrepareCreate(obj.(T))
	}
}

// PrepareForUpdate implements Strategy.
func (s Typed[T]) PrepareForUpdate(obj, old runtime.Object) {
	if s.PrepareUpdate != nil {
		s.PrepareUpdate(obj.(T), old.(T))
	}
}

// Default implements Strategy.
func (s Typed[T]) Default(obj runtime.Object) {
	if s.Defaults != nil {
		s.Defaults(obj.(T))
	}
}

// Validate implements Strategy.
func (s Typed[T]) Validate(obj runtime.Object) field.ErrorList {
	if s.Check == nil {
		return nil
	}
	return s.Check(obj.(T))
}

// ValidateUpdate implements Strategy.
func (s Typed[T]) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	if s.CheckUpdate == nil {
		return nil
	}
	return s.CheckUpdate(obj.(T), old.(T))
}

// ValidateStatusUpdate implements Strategy.
func (s Typed[T]) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	if s.CheckStatus == nil {
		return nil
	}
	return s.CheckStatus(obj.(T), old.(T))
}

// TableColumns implements Strategy.
func (s Typed[T]) TableColumns() []metav1.TableColumnDefinition {
	if s.Columns == nil {
		return DefaultStrategy{}.TableColumns()
	}
	return s.Columns
}

// TableRow implements Strategy.
func (s Typed[T]) TableRow(obj runtime.Object) []interface{} {
	if s.Row == nil {
		return DefaultStrategy{}.TableRow(obj)
	}
	return s.Row(obj.(T))
}

// SelectableFields implements Strategy.
func (s Typed[T]) SelectableFields(obj runtime.Object) fields.Set {
	if s.Fields == nil {
		return nil
	}
	return s.Fields(obj.(T))
}

// GenerationTracked implements Strategy.
func (s Typed[T]) GenerationTracked() bool { return s.TrackGeneration }
