// Package hollow runs simulated ("hollow") kubelets: N Node objects that
// register, heartbeat through node Leases and NodeStatus, and run the pods
// bound to them through their phases without any container, so the control
// plane can be exercised and measured at scale in one process.
//
// All nodes of a Nodes share one pod informer, one heartbeat queue and a
// few workers; a node costs a small struct, not a goroutine.
package hollow

import (
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Annotations that script a hollow pod's containers.
const (
	// AnnotationExitCode makes every container exit with this code after
	// AnnotationRunSeconds (0 when absent); the pod's restartPolicy decides
	// what follows.
	AnnotationExitCode = "hollow.kubelab.dev/exit-code"
	// AnnotationRunSeconds is how long each container runs before it exits
	// with AnnotationExitCode (0 when absent). Without either annotation
	// containers run until the pod is deleted.
	AnnotationRunSeconds = "hollow.kubelab.dev/run-seconds"
	// AnnotationReadyAfterSeconds delays each container's readiness by this
	// many seconds after it starts (readiness probes are not run).
	AnnotationReadyAfterSeconds = "hollow.kubelab.dev/ready-after-seconds"
)

// LabelHollow marks nodes run by this package.
const LabelHollow = "node.kubelab.dev/hollow"

// Options configure a set of hollow nodes.
type Options struct {
	// Count is the number of nodes.
	Count int
	// NamePrefix prefixes the node names, which end in their index
	// ("hollow-node-0", ...).
	NamePrefix string
	// Capacity is each node's capacity and allocatable (cpu 4, memory
	// 16Gi, pods 110 by default).
	Capacity corev1.ResourceList
	// Labels are added to each node's labels.
	Labels map[string]string
	// Taints are registered with each node (--register-with-taints).
	Taints []corev1.Taint
	// LeaseDurationSeconds is the node Lease's duration (40).
	LeaseDurationSeconds int32
	// RenewInterval is how often each Lease is renewed (10s), with up to
	// 4% jitter as upstream's lease controller.
	RenewInterval time.Duration
	// StatusUpdateInterval is how often each node posts its NodeStatus
	// (1m, upstream's report frequency when leases are on).
	StatusUpdateInterval time.Duration
	// NodeIPRange is the fake range InternalIPs come from (100.64.0.0/10).
	NodeIPRange string
	// KubeletVersion is reported in nodeInfo (v1.37.2-kubelab).
	KubeletVersion string
	// Workers is the number of heartbeat workers (Count/40, within 16..128).
	Workers int
	// PodWorkers is the number of pod status workers (as Workers: every
	// real kubelet writes its own pods' statuses, so the writers grow with
	// the nodes).
	PodWorkers int
	// QPS and Burst limit the client; 0 derives them from Count so that
	// heartbeats are never throttled and pods are not throttled more than
	// by upstream's per-kubelet limits (50 QPS, burst 100) summed.
	QPS   float32
	Burst int
	// BackoffBase and BackoffMax bound the CrashLoopBackOff delay between
	// restarts of a crashing container (10s doubling up to 5m as upstream).
	BackoffBase, BackoffMax time.Duration
	// KillDelay is how long killing a deleted pod's containers takes, at
	// most the pod's grace period (200ms).
	KillDelay time.Duration
}

// DefaultOptions returns options for n nodes with upstream's intervals.
func DefaultOptions(n int) Options {
	return Options{Count: n}
}

// withDefaults fills unset fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Count < 0 {
		return o, fmt.Errorf("hollow nodes: count %d is negative", o.Count)
	}
	if o.NamePrefix == "" {
		o.NamePrefix = "hollow-node-"
	}
	def := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("16Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	capacity := corev1.ResourceList{}
	for k, v := range def {
		capacity[k] = v
	}
	for k, v := range o.Capacity {
		capacity[k] = v
	}
	o.Capacity = capacity
	if o.LeaseDurationSeconds <= 0 {
		o.LeaseDurationSeconds = 40
	}
	if o.RenewInterval <= 0 {
		o.RenewInterval = 10 * time.Second
	}
	if o.StatusUpdateInterval <= 0 {
		o.StatusUpdateInterval = time.Minute
	}
	if o.NodeIPRange == "" {
		o.NodeIPRange = "100.64.0.0/10"
	}
	p, err := netip.ParsePrefix(o.NodeIPRange)
	if err != nil {
		return o, fmt.Errorf("hollow nodes: node IP range: %w", err)
	}
	if size := p.Addr().BitLen() - p.Bits(); size < 63 && uint64(o.Count)+2 > uint64(1)<<size {
		return o, fmt.Errorf("hollow nodes: node IP range %s is too small for %d nodes", p, o.Count)
	}
	if o.KubeletVersion == "" {
		o.KubeletVersion = "v1.37.2-kubelab"
	}
	if o.Workers <= 0 {
		// Heartbeats wait on the API server (and its etcd fsync): enough
		// workers that a slow write does not delay the others.
		o.Workers = min(max(16, o.Count/40), 128)
	}
	if o.PodWorkers <= 0 {
		// Pod status writes wait on the API server too; with a fixed few
		// workers a node's pods would queue behind the whole cluster's.
		o.PodWorkers = min(max(16, o.Count/40), 128)
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = 10 * time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 5 * time.Minute
	}
	if o.BackoffMax < o.BackoffBase {
		o.BackoffMax = o.BackoffBase
	}
	if o.KillDelay <= 0 {
		o.KillDelay = 200 * time.Millisecond
	}
	if o.QPS <= 0 {
		// Every heartbeat at full rate, twice over, plus room for pods;
		// at least the kubelets' own limits (--kube-api-qps 50) summed.
		perSecond := float64(o.Count)/o.RenewInterval.Seconds() + float64(o.Count)/o.StatusUpdateInterval.Seconds()
		o.QPS = float32(max(2*perSecond+200, 50*float64(o.Count)))
	}
	if o.Burst <= 0 {
		o.Burst = int(2 * o.QPS)
	}
	return o, nil
}
