package hollow

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/kubelet/nodestatus"
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
	got, err := nodestatus.Register(ctx, h.client, h.nodeObject(n))
	if err != nil {
		return err
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
	return nodestatus.Conditions(nodestatus.Readiness{Ready: true}, now, since)
}

// postStatus patches the node's conditions with a fresh heartbeat.
func (h *Nodes) postStatus(ctx context.Context, n *node) error {
	got, err := nodestatus.PostConditions(ctx, h.client, n.name, h.conditions(n, metav1.Now()))
	if err != nil {
		return err
	}
	h.stats.StatusWrites.Add(1)
	n.mu.Lock()
	n.setCIDRLocked(got.Spec.PodCIDR)
	n.mu.Unlock()
	return nil
}

// renewLease renews (or creates) the node's Lease in kube-node-lease.
func (h *Nodes) renewLease(ctx context.Context, n *node) error {
	n.mu.Lock()
	rv, uid := n.leaseRV, n.uid
	n.mu.Unlock()
	got, err := nodestatus.RenewLease(ctx, h.client,
		nodestatus.Lease(n.name, uid, h.opts.LeaseDurationSeconds, rv, time.Now()))
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.leaseRV = ""
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	h.stats.LeaseWrites.Add(1)
	n.leaseRV = got.ResourceVersion
	return nil
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
