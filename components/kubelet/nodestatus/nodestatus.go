// Package nodestatus is how kubelab's kubelets (the kubelet on containerd
// and the hollow nodes) announce a node to the API server: registration of
// the Node object, the node conditions of a NodeStatus heartbeat and the
// node Lease renewed in kube-node-lease.
package nodestatus

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Readiness is the state a kubelet reports in its Ready condition.
type Readiness struct {
	// Ready is whether the node can run pods.
	Ready bool
	// Message explains a node that is not ready (the runtime or network
	// is not ready).
	Message string
}

// Conditions are the node conditions a kubelet posts: no memory, disk or
// PID pressure, and Ready as r says. now is the heartbeat time; since is
// when the Ready status last changed.
func Conditions(r Readiness, now, since metav1.Time) []corev1.NodeCondition {
	c := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg,
			LastHeartbeatTime: now, LastTransitionTime: since}
	}
	ready := c(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status")
	if !r.Ready {
		ready = c(corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady", r.Message)
	}
	return []corev1.NodeCondition{
		c(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		c(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		c(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		ready,
	}
}

// Register creates the node want, or makes an existing node of that name
// the kubelet's again: labels it lacks merged in, its status replaced by
// want's capacity, allocatable, conditions, addresses, nodeInfo and daemon
// endpoints. It returns the node as stored.
func Register(ctx context.Context, client kubernetes.Interface, want *corev1.Node) (*corev1.Node, error) {
	got, err := client.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, err = reconcileExisting(ctx, client, want)
	}
	if err != nil {
		return nil, fmt.Errorf("register node %s: %w", want.Name, err)
	}
	return got, nil
}

// reconcileExisting merges want's labels into the stored node and replaces
// the status fields a kubelet owns.
func reconcileExisting(ctx context.Context, client kubernetes.Interface, want *corev1.Node) (*corev1.Node, error) {
	cur, err := client.CoreV1().Nodes().Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	missing := map[string]string{}
	for k, v := range want.Labels {
		if cur.Labels[k] != v {
			missing[k] = v
		}
	}
	if len(missing) > 0 {
		data, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": missing}})
		if err != nil {
			return nil, err
		}
		if _, err := client.CoreV1().Nodes().Patch(ctx, want.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}); err != nil {
			return nil, err
		}
	}
	data, err := json.Marshal(map[string]any{"status": map[string]any{
		"capacity": want.Status.Capacity, "allocatable": want.Status.Allocatable,
		"conditions": want.Status.Conditions, "addresses": want.Status.Addresses,
		"nodeInfo": want.Status.NodeInfo, "daemonEndpoints": want.Status.DaemonEndpoints,
	}})
	if err != nil {
		return nil, err
	}
	return client.CoreV1().Nodes().PatchStatus(ctx, want.Name, data)
}

// PostConditions patches the node's conditions (a NodeStatus heartbeat)
// and returns the node as stored.
func PostConditions(ctx context.Context, client kubernetes.Interface, name string, conditions []corev1.NodeCondition) (*corev1.Node, error) {
	data, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": conditions}})
	if err != nil {
		return nil, err
	}
	got, err := client.CoreV1().Nodes().PatchStatus(ctx, name, data)
	if err != nil {
		return nil, fmt.Errorf("post status of node %s: %w", name, err)
	}
	return got, nil
}
