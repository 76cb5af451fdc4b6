// Package core describes the core/v1 resources kubelab serves.
package core

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubelab/kubelab/components/apiserver/defaults"
	"github.com/kubelab/kubelab/components/apiserver/printers"
	"github.com/kubelab/kubelab/components/apiserver/registry"
	"github.com/kubelab/kubelab/components/apiserver/validation"
)

var gv = schema.GroupVersion{Version: "v1"}

// Resources returns the core/v1 resources.
func Resources() []*registry.Resource {
	return []*registry.Resource{
		{
			GroupVersion: gv, Name: "namespaces", SingularName: "namespace", Kind: "Namespace", ShortNames: []string{"ns"},
			New: func() runtime.Object { return &corev1.Namespace{} }, NewList: func() runtime.Object { return &corev1.NamespaceList{} },
			HasStatus:         true,
			PendingFinalizers: func(o runtime.Object) bool { return len(o.(*corev1.Namespace).Spec.Finalizers) > 0 },
			PrepareForDelete:  func(o runtime.Object) { o.(*corev1.Namespace).Status.Phase = corev1.NamespaceTerminating },
			Strategy: registry.Typed[*corev1.Namespace]{
				PrepareCreate: prepareNamespace, Defaults: defaults.Namespace,
				Check: validation.ValidateNamespace, CheckUpdate: validation.ValidateNamespaceUpdate,
				Columns: printers.NamespaceColumns, Row: printers.NamespaceRow, Fields: printers.NamespaceFields,
			},
		},
		{
			GroupVersion: gv, Name: "pods", SingularName: "pod", Kind: "Pod", Namespaced: true, ShortNames: []string{"po"}, Categories: []string{"all"},
			New: func() runtime.Object { return &corev1.Pod{} }, NewList: func() runtime.Object { return &corev1.PodList{} },
			HasStatus:   true,
			GracePeriod: podGracePeriod,
			Strategy: registry.Typed[*corev1.Pod]{
				PrepareCreate: preparePod, Defaults: defaults.Pod,
				Check: validation.ValidatePod, CheckUpdate: validation.ValidatePodUpdate, CheckStatus: validation.ValidatePodStatusUpdate,
				Columns: printers.PodColumns, Row: printers.PodRow, Fields: printers.PodFields,
				TrackGeneration: true,
			},
		},
		{
			GroupVersion: gv, Name: "nodes", SingularName: "node", Kind: "Node", ShortNames: []string{"no"},
			New: func() runtime.Object { return &corev1.Node{} }, NewList: func() runtime.Object { return &corev1.NodeList{} },
			HasStatus: true, CreateWithStatus: true,
			Strategy: registry.Typed[*corev1.Node]{
				Defaults: defaults.Node,
				Check:    validation.ValidateNode, CheckUpdate: validation.ValidateNodeUpdate,
				Columns: printers.NodeColumns, Row: printers.NodeRow, Fields: printers.NodeFields,
			},
		},
		{
			GroupVersion: gv, Name: "services", SingularName: "service", Kind: "Service", Namespaced: true, ShortNames: []string{"svc"}, Categories: []string{"all"},
			New: func() runtime.Object { return &corev1.Service{} }, NewList: func() runtime.Object { return &corev1.ServiceList{} },
			HasStatus: true, AllowCreateOnUpdate: true,
			Strategy: registry.Typed[*corev1.Service]{
				PrepareUpdate: defaults.PrepareServiceUpdate,
				Defaults:      defaults.Service,
				Check:         validation.ValidateService, CheckUpdate: validation.ValidateServiceUpdate,
				Columns: printers.ServiceColumns, Row: printers.ServiceRow, Fields: printers.ServiceFields,
			},
		},
		{
			GroupVersion: gv, Name: "endpoints", SingularName: "endpoints", Kind: "Endpoints", Namespaced: true, ShortNames: []string{"ep"},
			New: func() runtime.Object { return &corev1.Endpoints{} }, NewList: func() runtime.Object { return &corev1.EndpointsList{} },
			AllowCreateOnUpdate: true,
			Strategy: registry.Typed[*corev1.Endpoints]{
				Defaults: defaults.Endpoints,
				Check:    validation.ValidateEndpoints, CheckUpdate: validation.ValidateEndpointsUpdate,
				Columns: printers.EndpointsColumns, Row: printers.EndpointsRow,
			},
		},
		{
			GroupVersion: gv, Name: "configmaps", SingularName: "configmap", Kind: "ConfigMap", Namespaced: true, ShortNames: []string{"cm"},
			New: func() runtime.Object { return &corev1.ConfigMap{} }, NewList: func() runtime.Object { return &corev1.ConfigMapList{} },
			Strategy: registry.Typed[*corev1.ConfigMap]{
				Defaults: defaults.ConfigMap,
				Check:    validation.ValidateConfigMap, CheckUpdate: validation.ValidateConfigMapUpdate,
				Columns: printers.ConfigMapColumns, Row: printers.ConfigMapRow,
			},
		},
		{
			GroupVersion: gv, Name: "secrets", SingularName: "secret", Kind: "Secret", Namespaced: true,
			New: func() runtime.Object { return &corev1.Secret{} }, NewList: func() runtime.Object { return &corev1.SecretList{} },
			Strategy: registry.Typed[*corev1.Secret]{
				Defaults: defaults.Secret,
				Check:    validation.ValidateSecret, CheckUpdate: validation.ValidateSecretUpdate,
				Columns: printers.SecretColumns, Row: printers.SecretRow, Fields: printers.SecretFields,
			},
		},
		{
			GroupVersion: gv, Name: "serviceaccounts", SingularName: "serviceaccount", Kind: "ServiceAccount", Namespaced: true, ShortNames: []string{"sa"},
			New: func() runtime.Object { return &corev1.ServiceAccount{} }, NewList: func() runtime.Object { return &corev1.ServiceAccountList{} },
			Strategy: registry.Typed[*corev1.ServiceAccount]{
				Check: validation.ValidateServiceAccount, CheckUpdate: validation.ValidateServiceAccountUpdate,
				Columns: printers.ServiceAccountColumns, Row: printers.ServiceAccountRow,
			},
		},
		{
			GroupVersion: gv, Name: "events", SingularName: "event", Kind: "Event", Namespaced: true, ShortNames: []string{"ev"},
			New: func() runtime.Object { return &corev1.Event{} }, NewList: func() runtime.Object { return &corev1.EventList{} },
			AllowCreateOnUpdate: true, NoWatchCache: true,
			Strategy: registry.Typed[*corev1.Event]{
				Check: validation.ValidateEvent, CheckUpdate: validation.ValidateEventUpdate,
				Columns: printers.EventColumns, Row: printers.EventRow, Fields: printers.EventFields,
			},
		},
		{
			GroupVersion: gv, DefaultPropagation: "Background", Name: "replicationcontrollers", SingularName: "replicationcontroller", Kind: "ReplicationController", Namespaced: true, ShortNames: []string{"rc"}, Categories: []string{"all"},
			New: func() runtime.Object { return &corev1.ReplicationController{} }, NewList: func() runtime.Object { return &corev1.ReplicationControllerList{} },
			HasStatus: true,
			Scale:     &registry.ScaleAccessor{Get: rcScale, SetReplicas: func(o runtime.Object, n int32) { o.(*corev1.ReplicationController).Spec.Replicas = &n }},
			Strategy: registry.Typed[*corev1.ReplicationController]{
				Defaults: defaults.ReplicationController,
				Check:    validation.ValidateReplicationController, CheckUpdate: validation.ValidateReplicationControllerUpdate,
				Columns: printers.ReplicationControllerColumns, Row: printers.ReplicationControllerRow, Fields: printers.ReplicationControllerFields,
				TrackGeneration: true,
			},
		},
	}
}

// preparePod sets the state of a new pod as upstream does: Pending, no
// conditions or statuses until the scheduler and kubelet report them.
func preparePod(p *corev1.Pod) {
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(p)}
}

// prepareNamespace adds the kubernetes finalizer the namespace controller
// removes once the namespace is empty, and marks it Active.
func prepareNamespace(ns *corev1.Namespace) {
	if !hasFinalizer(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
}

func hasFinalizer(fs []corev1.FinalizerName, f corev1.FinalizerName) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

// podGracePeriod is upstream's CheckGracefulDelete for pods: the requested
// period, else the pod's own; 0 for pods never scheduled or already finished.
func podGracePeriod(o runtime.Object, requested *int64) int64 {
	pod := o.(*corev1.Pod)
	period := int64(corev1.DefaultTerminationGracePeriodSeconds)
	switch {
	case requested != nil:
		period = *requested
	case pod.DeletionGracePeriodSeconds != nil:
		period = *pod.DeletionGracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		period = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	if period < 0 {
		period = 1
	}
	return period
}

func rcScale(o runtime.Object) (int32, int32, string) {
	rc := o.(*corev1.ReplicationController)
	spec := int32(1)
	if rc.Spec.Replicas != nil {
		spec = *rc.Spec.Replicas
	}
	return spec, rc.Status.Replicas, registry.SelectorString(rc.Spec.Selector)
}
