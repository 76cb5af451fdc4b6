package hollow

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
)

// Nodes is a set of hollow nodes sharing one client, one pod informer and
// one heartbeat queue.
type Nodes struct {
	opts   Options
	client kubernetes.Interface
	log    *slog.Logger

	nodes  []*node
	byName map[string]*node

	beats workqueue.TypedDelayingInterface[beat]
	pods  *podRunner

	registered atomic.Int64
	ready      chan struct{}
	readyOnce  sync.Once

	stats Stats
}

// Stats counts the API writes the nodes made.
type Stats struct {
	// LeaseWrites and StatusWrites count heartbeats (lease renewals and
	// NodeStatus patches); PodStatusWrites and PodDeletes the pod work.
	LeaseWrites, StatusWrites, PodStatusWrites, PodDeletes atomic.Int64
	// Errors counts failed API calls.
	Errors atomic.Int64
}

// node is one hollow node: a few fields, no goroutine.
type node struct {
	index int32
	name  string
	ip    netip.Addr

	stopped atomic.Bool

	mu         sync.Mutex
	uid        types.UID
	leaseRV    string
	readySince time.Time
	cidr       netip.Prefix
	cidrAsked  time.Time
	// cidrWaiting is when a pod first waited for cidr; cidrWarned is set
	// once that wait was logged.
	cidrWaiting time.Time
	cidrWarned  bool
	pool        *ipPool
}

// New builds n hollow nodes that talk to the API server of cfg. Nothing
// happens until Run.
func New(cfg *rest.Config, o Options) (*Nodes, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	if cfg.UserAgent == "" {
		cfg.UserAgent = "kubelet/hollow"
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("hollow nodes: client: %w", err)
	}
	return newNodes(client, o)
}

// newNodes builds the nodes over a client (tests pass a fake one); o has
// its defaults.
func newNodes(client kubernetes.Interface, o Options) (*Nodes, error) {
	ipRange, err := netip.ParsePrefix(o.NodeIPRange)
	if err != nil {
		return nil, fmt.Errorf("hollow nodes: node IP range: %w", err)
	}
	h := &Nodes{
		opts:   o,
		client: client,
		log:    slog.Default().With("component", "hollow-nodes"),
		nodes:  make([]*node, o.Count),
		byName: make(map[string]*node, o.Count),
		beats:  workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[beat]{Name: "hollow-heartbeats"}),
		ready:  make(chan struct{}),
	}
	ip := ipRange.Masked().Addr().Next()
	for i := range h.nodes {
		n := &node{index: int32(i), name: o.NamePrefix + strconv.Itoa(i), ip: ip}
		ip = ip.Next()
		h.nodes[i] = n
		h.byName[n.name] = n
	}
	h.pods = newPodRunner(h)
	return h, nil
}

// Run registers the nodes, keeps them heartbeating and runs their pods
// until ctx ends.
func (h *Nodes) Run(ctx context.Context) error {
	defer h.beats.ShutDown()
	if len(h.nodes) == 0 {
		h.readyOnce.Do(func() { close(h.ready) })
	}
	for _, n := range h.nodes {
		h.beats.Add(beat{node: n.index, kind: beatRegister})
	}
	var wg sync.WaitGroup
	for range h.opts.Workers {
		wg.Go(func() { h.beatWorker(ctx) })
	}
	podsDone := make(chan error, 1)
	go func() { podsDone <- h.pods.run(ctx) }()
	h.log.Info("hollow nodes starting", "count", len(h.nodes), "prefix", h.opts.NamePrefix)
	go h.reportStats(ctx, statsInterval)
	<-ctx.Done()
	h.beats.ShutDown()
	wg.Wait()
	return <-podsDone
}

// Ready is closed once every node has registered.
func (h *Nodes) Ready() <-chan struct{} { return h.ready }

// Names returns the node names in index order.
func (h *Nodes) Names() []string {
	out := make([]string, len(h.nodes))
	for i, n := range h.nodes {
		out[i] = n.name
	}
	return out
}

// Stats returns the live write counters.
func (h *Nodes) Stats() *Stats { return &h.stats }

// Stop silences the named node as if its kubelet died: no more heartbeats
// and its pods are left alone. It reports whether the node is one of h's.
func (h *Nodes) Stop(name string) bool {
	n := h.byName[name]
	if n == nil {
		return false
	}
	n.stopped.Store(true)
	return true
}

// Resume brings a stopped node back: it heartbeats at once, posts a Ready
// status and resumes its pods.
func (h *Nodes) Resume(name string) bool {
	n := h.byName[name]
	if n == nil {
		return false
	}
	if n.stopped.Swap(false) {
		n.mu.Lock()
		n.readySince = time.Now()
		registered := n.uid != ""
		n.mu.Unlock()
		if registered {
			h.beats.Add(beat{node: n.index, kind: beatLease})
			h.beats.Add(beat{node: n.index, kind: beatStatus})
		} else {
			h.beats.Add(beat{node: n.index, kind: beatRegister})
		}
		h.pods.resyncNode(n.name)
	}
	return true
}

// statsInterval is how often write rates are logged.
const statsInterval = time.Minute

// reportStats logs the write rates of the last interval until ctx ends.
func (h *Nodes) reportStats(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var lease, status, pods, errs int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l, s, p, e := h.stats.LeaseWrites.Load(), h.stats.StatusWrites.Load(), h.stats.PodStatusWrites.Load(), h.stats.Errors.Load()
		perSec := func(n int64) float64 { return float64(n) / every.Seconds() }
		h.log.Info("hollow node writes", "leasesPerSec", perSec(l-lease), "statusesPerSec", perSec(s-status),
			"podStatusesPerSec", perSec(p-pods), "errors", e-errs, "registered", h.registered.Load())
		lease, status, pods, errs = l, s, p, e
	}
}

// markRegistered counts a registration and closes Ready after the last.
func (h *Nodes) markRegistered() {
	if h.registered.Add(1) == int64(len(h.nodes)) {
		h.readyOnce.Do(func() { close(h.ready) })
		h.log.Info("hollow nodes registered", "count", len(h.nodes))
	}
}
