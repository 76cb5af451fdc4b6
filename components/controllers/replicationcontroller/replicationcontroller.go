// Package replicationcontroller runs the replicaset controller over
// ReplicationControllers, as upstream does: each RC is seen as a
// ReplicaSet whose selector is the RC's label map (as matchLabels), and
// status is written back to the RC.
package replicationcontroller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/replicaset"
)

// Component names the controller in events, as upstream's.
const Component = "replication-controller"

// New builds the ReplicationController controller on the shared informers.
func New(ctx context.Context, c *controllers.Context) (controllers.Controller, error) {
	inf := c.Informers.Core().V1().ReplicationControllers().Informer()
	client := c.Client
	return replicaset.NewFor(ctx, c, replicaset.Kind{
		GVK:       corev1.SchemeGroupVersion.WithKind("ReplicationController"),
		Component: Component,
		Informer:  inf,
		Convert: func(obj any) (*appsv1.ReplicaSet, bool) {
			rc, ok := obj.(*corev1.ReplicationController)
			if !ok {
				return nil, false
			}
			return ToReplicaSet(rc), true
		},
		Get: func(ctx context.Context, ns, name string) (metav1.Object, error) {
			return client.CoreV1().ReplicationControllers(ns).Get(ctx, name, metav1.GetOptions{})
		},
		UpdateStatus: func(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
			return updateStatus(ctx, client, inf.GetIndexer(), rs)
		},
	})
}

// updateStatus writes the status of the view rs to the cached RC it
// stands for (keeping the view's resourceVersion as the precondition).
func updateStatus(ctx context.Context, client kubernetes.Interface, idx cache.Indexer, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	obj, exists, err := idx.GetByKey(rs.Namespace + "/" + rs.Name)
	if err != nil {
		return nil, fmt.Errorf("get replication controller %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	var rc *corev1.ReplicationController
	if exists {
		rc = obj.(*corev1.ReplicationController).DeepCopy()
	} else {
		rc = &corev1.ReplicationController{ObjectMeta: *rs.ObjectMeta.DeepCopy()}
	}
	rc.ResourceVersion = rs.ResourceVersion
	rc.UID = rs.UID
	rc.Status = StatusToRC(rs.Status)
	out, err := client.CoreV1().ReplicationControllers(rs.Namespace).UpdateStatus(ctx, rc, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return ToReplicaSet(out), nil
}

// ToReplicaSet returns the ReplicaSet view of rc. It shares memory with rc;
// its TypeMeta names ReplicationController so events point at the RC.
func ToReplicaSet(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"},
		ObjectMeta: rc.ObjectMeta,
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: rc.Spec.Selector},
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return rs
}

// StatusToRC converts a ReplicaSet status to a ReplicationController status.
func StatusToRC(s appsv1.ReplicaSetStatus) corev1.ReplicationControllerStatus {
	out := corev1.ReplicationControllerStatus{
		Replicas:             s.Replicas,
		FullyLabeledReplicas: s.FullyLabeledReplicas,
		ReadyReplicas:        s.ReadyReplicas,
		AvailableReplicas:    s.AvailableReplicas,
		ObservedGeneration:   s.ObservedGeneration,
	}
	for _, c := range s.Conditions {
		out.Conditions = append(out.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return out
}
