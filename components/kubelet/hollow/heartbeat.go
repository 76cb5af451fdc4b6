package hollow

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// beatKind is the work a heartbeat queue item asks for.
type beatKind uint8

const (
	beatRegister beatKind = iota
	beatLease
	beatStatus
)

// beat is a heartbeat queue item: small and comparable, so the delaying
// queue's heap is the only timer the nodes need.
type beat struct {
	node int32
	kind beatKind
}

// retryDelay is how soon a failed heartbeat is tried again.
const retryDelay = time.Second

// beatWorker processes heartbeats until the queue shuts down.
func (h *Nodes) beatWorker(ctx context.Context) {
	for {
		b, quit := h.beats.Get()
		if quit {
			return
		}
		next := h.beat(ctx, b)
		h.beats.Done(b)
		if next > 0 && ctx.Err() == nil {
			h.beats.AddAfter(b, next)
		}
	}
}

// beat does one heartbeat and returns when the next one is due (0: none).
func (h *Nodes) beat(ctx context.Context, b beat) time.Duration {
	n := h.nodes[b.node]
	if n.stopped.Load() {
		return 0
	}
	var err error
	switch b.kind {
	case beatRegister:
		if err = h.register(ctx, n); err == nil {
			// Spread the nodes' heartbeats over the intervals.
			h.beats.AddAfter(beat{node: n.index, kind: beatLease}, randDuration(h.opts.RenewInterval))
			h.beats.AddAfter(beat{node: n.index, kind: beatStatus}, randDuration(h.opts.StatusUpdateInterval))
			// Lease now, too: a node is healthy from its first heartbeat.
			if err := h.renewLease(ctx, n); err != nil {
				h.log.Debug("first lease renewal failed", "node", n.name, "err", err)
			}
			return 0
		}
	case beatLease:
		if err = h.renewLease(ctx, n); err == nil {
			return jitter(h.opts.RenewInterval, 0.04)
		}
	case beatStatus:
		if err = h.postStatus(ctx, n); err == nil {
			return jitter(h.opts.StatusUpdateInterval, 0.04)
		}
	}
	if ctx.Err() != nil {
		return 0
	}
	h.stats.Errors.Add(1)
	h.log.Debug("heartbeat failed", "node", n.name, "kind", b.kind, "err", err)
	if b.kind == beatStatus && apierrors.IsNotFound(err) {
		// The node object was deleted: like the kubelet, do not
		// re-register; the lease keeps being renewed until it is gone too.
		return h.opts.StatusUpdateInterval
	}
	return retryDelay
}

// randDuration is uniform in [0, d).
func randDuration(d time.Duration) time.Duration {
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// jitter is d plus up to factor*d, as wait.Jitter.
func jitter(d time.Duration, factor float64) time.Duration {
	return d + time.Duration(rand.Float64()*factor*float64(d))
}

// register creates the node, or reconciles an existing one's labels and
// status (a restarted hollow process).
func (h *Nodes) register(ctx context.Context, n *node) error {
	n.mu.Lock()
	n.readySince = time.Now()
	n.mu.Unlock()
	want := h.nodeObject(n)
	got, err := h.client.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, err = h.reconcileExisting(ctx, want)
	}
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.name, err)
	}
	n.mu.Lock()
	first := n.uid == ""
	n.uid = got.UID
	n.setCIDRLocked(got.Spec.PodCIDR)
	n.mu.Unlock()
	if first {
		h.markRegistered()
	}
	return nil
}

// reconcileExisting makes an existing node ours again: missing labels
// merged in, status replaced with a Ready one.
func (h *Nodes) reconcileExisting(ctx context.Context, want *corev1.Node) (*corev1.Node, error) {
	cur, err := h.client.CoreV1().Nodes().Get(ctx, want.Name, metav1.GetOptions{})
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
		if _, err := h.client.CoreV1().Nodes().Patch(ctx, want.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}); err != nil {
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
	return h.client.CoreV1().Nodes().PatchStatus(ctx, want.Name, data)
}

// nodeObject is the Node a hollow kubelet registers.
func (h *Nodes) nodeObject(n *node) *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:   n.name,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: "amd64",
		LabelHollow:            "true",
	}
	for k, v := range h.opts.Labels {
		labels[k] = v
	}
	now := metav1.Now()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.name, Labels: labels,
			Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0"},
		},
		Spec: corev1.NodeSpec{Taints: h.opts.Taints},
		Status: corev1.NodeStatus{
			Capacity:    h.opts.Capacity.DeepCopy(),
			Allocatable: h.opts.Capacity.DeepCopy(),
			Phase:       corev1.NodeRunning,
			Conditions:  h.conditions(n, now),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: n.ip.String()},
				{Type: corev1.NodeHostName, Address: n.name},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:               fmt.Sprintf("%032x", n.index),
				SystemUUID:              fmt.Sprintf("00000000-0000-0000-0000-%012x", n.index),
				BootID:                  fmt.Sprintf("00000000-0000-0000-0000-%012x", n.index),
				KernelVersion:           "6.1.0-hollow",
				OSImage:                 "kubelab hollow node",
				ContainerRuntimeVersion: "hollow://1.0.0",
				KubeletVersion:          h.opts.KubeletVersion,
				KubeProxyVersion:        h.opts.KubeletVersion,
				OperatingSystem:         "linux",
				Architecture:            "amd64",
			},
		},
	}
}

// conditions are the node conditions a healthy kubelet posts.
func (h *Nodes) conditions(n *node, now metav1.Time) []corev1.NodeCondition {
	n.mu.Lock()
	since := metav1.NewTime(n.readySince)
	n.mu.Unlock()
	c := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg,
			LastHeartbeatTime: now, LastTransitionTime: since}
	}
	return []corev1.NodeCondition{
		c(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		c(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		c(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		c(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
	}
}

// postStatus patches the node's conditions with a fresh heartbeat.
func (h *Nodes) postStatus(ctx context.Context, n *node) error {
	data, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": h.conditions(n, metav1.Now())}})
	if err != nil {
		return err
	}
	got, err := h.client.CoreV1().Nodes().PatchStatus(ctx, n.name, data)
	if err != nil {
		return fmt.Errorf("post status of node %s: %w", n.name, err)
	}
	h.stats.StatusWrites.Add(1)
	n.mu.Lock()
	n.setCIDRLocked(got.Spec.PodCIDR)
	n.mu.Unlock()
	return nil
}

// renewLease renews (or creates) the node's Lease in kube-node-lease.
func (h *Nodes) renewLease(ctx context.Context, n *node) error {
	leases := h.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	n.mu.Lock()
	rv, uid := n.leaseRV, n.uid
	n.mu.Unlock()
	lease := h.leaseObject(n, uid, rv)
	var got *coordinationv1.Lease
	var err error
	if rv != "" {
		got, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			rv = ""
		}
	}
	if rv == "" {
		lease.ResourceVersion = ""
		got, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			var cur *coordinationv1.Lease
			if cur, err = leases.Get(ctx, n.name, metav1.GetOptions{}); err == nil {
				lease.ResourceVersion = cur.ResourceVersion
				got, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
			}
		}
	}
	if err != nil {
		n.mu.Lock()
		n.leaseRV = ""
		n.mu.Unlock()
		return fmt.Errorf("renew lease of node %s: %w", n.name, err)
	}
	h.stats.LeaseWrites.Add(1)
	n.mu.Lock()
	n.leaseRV = got.ResourceVersion
	n.mu.Unlock()
	return nil
}

// leaseObject is the node's Lease renewed now, owned by the Node so the
// garbage collector removes it with the node.
func (h *Nodes) leaseObject(n *node, uid types.UID, rv string) *coordinationv1.Lease {
	name := n.name
	duration := h.opts.LeaseDurationSeconds
	now := metav1.NewMicroTime(time.Now())
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Namespace: corev1.NamespaceNodeLease, ResourceVersion: rv},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: &name, LeaseDurationSeconds: &duration, RenewTime: &now,
		},
	}
	if uid != "" {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.name, UID: uid}}
	}
	return l
}

// setCIDRLocked records the node's podCIDR once node IPAM assigned it.
func (n *node) setCIDRLocked(cidr string) {
	if cidr == "" || n.cidr.IsValid() {
		return
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return
	}
	n.cidr = p.Masked()
	n.pool = newIPPool(n.cidr)
}
