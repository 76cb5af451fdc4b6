package nodestatus

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Lease is node's Lease in kube-node-lease renewed at now, at resource
// version rv (empty: not known), owned by the Node with uid (when known)
// so the garbage collector removes it with the node.
func Lease(node string, uid types.UID, durationSeconds int32, rv string, now time.Time) *coordinationv1.Lease {
	holder := node
	renew := metav1.NewMicroTime(now)
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: corev1.NamespaceNodeLease, ResourceVersion: rv},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: &holder, LeaseDurationSeconds: &durationSeconds, RenewTime: &renew,
		},
	}
	if uid != "" {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node, UID: uid}}
	}
	return l
}

// RenewLease writes lease: an update when its resource version is known
// and still current, else a create (or, when the lease exists, an update
// over the stored one). It returns the stored lease, whose resource
// version the next renewal passes.
func RenewLease(ctx context.Context, client kubernetes.Interface, lease *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	leases := client.CoordinationV1().Leases(lease.Namespace)
	lease = lease.DeepCopy()
	if lease.ResourceVersion != "" {
		got, err := leases.Update(ctx, lease, metav1.UpdateOptions{})
		if err == nil {
			return got, nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("renew lease %s: %w", lease.Name, err)
		}
		lease.ResourceVersion = ""
	}
	got, err := leases.Create(ctx, lease, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var cur *coordinationv1.Lease
		if cur, err = leases.Get(ctx, lease.Name, metav1.GetOptions{}); err == nil {
			lease.ResourceVersion = cur.ResourceVersion
			got, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("renew lease %s: %w", lease.Name, err)
	}
	return got, nil
}
