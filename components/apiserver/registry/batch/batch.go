// Package batch describes the batch/v1 resources kubelab serves.
package batch

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubelab/kubelab/components/apiserver/defaults"
	"github.com/kubelab/kubelab/components/apiserver/printers"
	"github.com/kubelab/kubelab/components/apiserver/registry"
	"github.com/kubelab/kubelab/components/apiserver/validation"
)

// Resources returns the batch/v1 resources.
func Resources() []*registry.Resource {
	return []*registry.Resource{{
		GroupVersion: batchv1.SchemeGroupVersion, DefaultPropagation: "Orphan", Name: "jobs", SingularName: "job", Kind: "Job", Namespaced: true, Categories: []string{"all"},
		New: func() runtime.Object { return &batchv1.Job{} }, NewList: func() runtime.Object { return &batchv1.JobList{} },
		HasStatus: true,
		Strategy: registry.Typed[*batchv1.Job]{
			PrepareCreate: defaults.JobSelector,
			Defaults:      defaults.Job,
			Check:         validation.ValidateJob, CheckUpdate: validation.ValidateJobUpdate,
			Columns: printers.JobColumns, Row: printers.JobRow, Fields: printers.JobFields,
			TrackGeneration: true,
		},
	}}
}
