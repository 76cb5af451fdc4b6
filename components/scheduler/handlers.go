package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/kubelab/kubelab/components/scheduler/queue"
)

// setupInformers creates the informers (pending pods of this scheduler,
// bound pods that are not finished, nodes, namespaces) and their handlers.
func (s *Scheduler) setupInformers() {
	notFinished := ",status.phase!=" + string(corev1.PodSucceeded) + ",status.phase!=" + string(corev1.PodFailed)
	s.unassigned = coreinformers.NewFilteredPodInformer(s.client, "", 0, toolscache.Indexers{}, func(o *metav1.ListOptions) {
		o.FieldSelector = "spec.nodeName=,spec.schedulerName=" + s.opts.SchedulerName + notFinished
	})
	s.assigned = coreinformers.NewFilteredPodInformer(s.client, "", 0, toolscache.Indexers{}, func(o *metav1.ListOptions) {
		o.FieldSelector = "spec.nodeName!=" + notFinished
	})
	s.nodes = coreinformers.NewNodeInformer(s.client, 0, toolscache.Indexers{})
	s.namespaces = coreinformers.NewNamespaceInformer(s.client, 0, toolscache.Indexers{})
	for _, inf := range []toolscache.SharedIndexInformer{s.unassigned, s.namespaces} {
		_ = inf.SetTransform(stripManagedFields)
	}
	_ = s.nodes.SetTransform(stripNode)
	// Bound pods are kept without status: scheduling reads only their spec
	// and metadata, and status churn (kubelets) is most of their updates.
	_ = s.assigned.SetTransform(stripBoundPod)

	_, _ = s.unassigned.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok && s.responsibleFor(pod) {
				s.queue.Add(pod)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Pod)
			pod, ok2 := newObj.(*corev1.Pod)
			switch {
			case !ok1 || !ok2:
			case s.responsibleFor(pod):
				s.queue.Update(old, pod)
			case len(pod.Spec.SchedulingGates) > 0:
				s.queue.Delete(pod.UID)
			}
		},
		DeleteFunc: func(obj any) {
			if pod := podOf(obj); pod != nil {
				s.queue.Delete(pod.UID)
			}
		},
	})
	_, _ = s.assigned.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				s.cache.AddPod(pod)
				s.queue.MoveAll(s.affinityMatches(pod))
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Pod)
			pod, ok2 := newObj.(*corev1.Pod)
			if !ok1 || !ok2 || !queue.Changed(old, pod) {
				return
			}
			s.cache.AddPod(pod)
			s.queue.MoveAll(nil)
		},
		DeleteFunc: func(obj any) {
			if pod := podOf(obj); pod != nil {
				s.cache.RemovePod(pod.UID)
				s.queue.MoveAll(nil)
			}
		},
	})
	_, _ = s.nodes.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if node, ok := obj.(*corev1.Node); ok {
				s.cache.SetNode(node)
				s.queue.MoveAll(nil)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Node)
			node, ok2 := newObj.(*corev1.Node)
			if !ok1 || !ok2 {
				return
			}
			s.cache.SetNode(node)
			if nodeSchedulingChanged(old, node) {
				s.queue.MoveAll(nil)
			}
		},
		DeleteFunc: func(obj any) {
			switch t := obj.(type) {
			case *corev1.Node:
				s.cache.RemoveNode(t.Name)
			case toolscache.DeletedFinalStateUnknown:
				if node, ok := t.Obj.(*corev1.Node); ok {
					s.cache.RemoveNode(node.Name)
				}
			}
		},
	})
}

// responsibleFor reports whether the pod is one to schedule: it names this
// scheduler and has no node (the field selector already says so), and no
// scheduling gate holds it back (it is queued once the gates are removed).
func (s *Scheduler) responsibleFor(pod *corev1.Pod) bool {
	return pod.Spec.SchedulerName == s.opts.SchedulerName && pod.Spec.NodeName == "" && len(pod.Spec.SchedulingGates) == 0
}

// affinityMatches selects the unschedulable pods with a required pod
// affinity term that the newly bound pod satisfies.
func (s *Scheduler) affinityMatches(pod *corev1.Pod) func(*queue.QueuedPod) bool {
	return func(qp *queue.QueuedPod) bool {
		if qp.Info == nil {
			return false
		}
		for i := range qp.Info.RequiredAffinity {
			if qp.Info.RequiredAffinity[i].Matches(pod, s.namespaceLabels) {
				return true
			}
		}
		return false
	}
}

// namespaceLabels returns a namespace's labels from the informer.
func (s *Scheduler) namespaceLabels(ns string) labels.Set {
	obj, ok, err := s.namespaces.GetStore().GetByKey(ns)
	if err != nil || !ok {
		return nil
	}
	return obj.(*corev1.Namespace).Labels
}

// nodeSchedulingChanged reports whether a node update may let pods fit
// that did not: allocatable, labels, taints, unschedulable or conditions.
func nodeSchedulingChanged(old, node *corev1.Node) bool {
	if old.Spec.Unschedulable != node.Spec.Unschedulable ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, node.Status.Allocatable) ||
		!equality.Semantic.DeepEqual(old.Labels, node.Labels) ||
		!equality.Semantic.DeepEqual(old.Spec.Taints, node.Spec.Taints) ||
		len(old.Status.Conditions) != len(node.Status.Conditions) {
		return true
	}
	for i := range node.Status.Conditions {
		if old.Status.Conditions[i].Type != node.Status.Conditions[i].Type ||
			old.Status.Conditions[i].Status != node.Status.Conditions[i].Status {
			return true
		}
	}
	return false
}

func podOf(obj any) *corev1.Pod {
	switch t := obj.(type) {
	case *corev1.Pod:
		return t
	case toolscache.DeletedFinalStateUnknown:
		pod, _ := t.Obj.(*corev1.Pod)
		return pod
	}
	return nil
}

func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// stripNode drops what scheduling never reads: managed fields and the
// node's image list.
func stripNode(obj any) (any, error) {
	if node, ok := obj.(*corev1.Node); ok {
		node.ManagedFields = nil
		node.Status.Images = nil
	}
	return obj, nil
}

func stripBoundPod(obj any) (any, error) {
	if pod, ok := obj.(*corev1.Pod); ok {
		pod.ManagedFields = nil
		pod.Status = corev1.PodStatus{Phase: pod.Status.Phase}
	}
	return obj, nil
}
