// Package proxy is kubelab's kube-proxy as a library: it turns Services and
// EndpointSlices into nftables rules, in the style of upstream kube-proxy's
// nftables mode (a "kube-proxy" table per IP family with service and
// node-port verdict maps, a chain per service port and per endpoint, random
// endpoint choice with numgen, rejects for ports without endpoints,
// masquerading by a mark bit), programmed over netlink with no nft or
// iptables binary.
//
// The split: ServicePorts and Build (endpoints.go, rules.go) are pure and
// compute a Ruleset; the applier (nft.go) writes it in one atomic netlink
// batch; conntrack.go deletes stale UDP flows; the Proxier (this file)
// watches the API and runs syncs, coalesced and retried.
//
// IPv4 always; IPv6 too (a second "ip6" table) when a cluster CIDR or node
// IP is IPv6, so dual-stack Services work in both families.
//
// Not implemented: internal/externalTrafficPolicy Local (both act as
// Cluster), loadBalancerSourceRanges and load-balancer IPs (LoadBalancer
// Services get their node ports only), topology-aware routing, health
// check node ports, --nodeport-addresses (Options.NodeIPs is the library's
// equivalent; the command answers NodePorts on every local address).
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// Proxier keeps the node's service rules in step with the API.
type Proxier struct {
	o        Options
	log      *slog.Logger
	factory  informers.SharedInformerFactory
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	trigger  chan struct{}
	netns    *os.File
	metrics  *metrics

	mu       sync.Mutex // one sync at a time; guards the fields below
	appliers map[Family]*applier
	prev     map[Family][]*ServicePort
	ct       *netlink.Handle

	lastSync    atomic.Pointer[time.Time]
	running     atomic.Bool
	cacheSynced atomic.Bool
}

// New builds a Proxier over client. It validates o and opens the network
// namespace, if any; Run starts the work.
func New(client kubernetes.Interface, o Options) (*Proxier, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	p := &Proxier{o: o, log: o.Logger.With("component", "kube-proxy"), trigger: make(chan struct{}, 1),
		appliers: map[Family]*applier{}, prev: map[Family][]*ServicePort{}}
	if o.NetNS != "" {
		f, err := os.Open(o.NetNS)
		if err != nil {
			return nil, fmt.Errorf("open network namespace: %w", err)
		}
		p.netns = f
	}
	for _, f := range o.Families() {
		p.appliers[f] = newApplier(f, p.netnsFd())
	}
	m, err := newMetrics(o.Metrics)
	if err != nil {
		p.close()
		return nil, err
	}
	p.metrics = m

	sel := labels.NewSelector()
	for _, key := range []string{LabelServiceProxyName, LabelHeadless} {
		r, err := labels.NewRequirement(key, selection.DoesNotExist, nil)
		if err != nil {
			p.close()
			return nil, err
		}
		sel = sel.Add(*r)
	}
	p.factory = informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = sel.String() }))
	svcInf := p.factory.Core().V1().Services()
	sliceInf := p.factory.Discovery().V1().EndpointSlices()
	p.services, p.slices = svcInf.Lister(), sliceInf.Lister()
	p.synced = []cache.InformerSynced{svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.requestSync() },
		UpdateFunc: func(any, any) { p.requestSync() },
		DeleteFunc: func(any) { p.requestSync() },
	}
	for _, inf := range []cache.SharedIndexInformer{svcInf.Informer(), sliceInf.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			p.close()
			return nil, fmt.Errorf("add event handler: %w", err)
		}
	}
	return p, nil
}

func (p *Proxier) netnsFd() int {
	if p.netns == nil {
		return 0
	}
	return int(p.netns.Fd())
}

func (p *Proxier) close() {
	if p.ct != nil {
		p.ct.Close()
		p.ct = nil
	}
	if p.netns != nil {
		p.netns.Close()
		p.netns = nil
	}
}

// requestSync asks for a sync; requests made before it starts coalesce.
func (p *Proxier) requestSync() {
	p.metrics.lastQueued.SetToCurrentTime()
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// LastSync is when the rules were last written successfully (zero before
// the first sync).
func (p *Proxier) LastSync() time.Time {
	if t := p.lastSync.Load(); t != nil {
		return *t
	}
	return time.Time{}
}

// SyncPeriod is the full resync interval in effect.
func (p *Proxier) SyncPeriod() time.Duration { return p.o.SyncPeriod }

// Run watches Services and EndpointSlices and keeps the rules in step
// until ctx ends, then returns nil leaving the rules in place (as upstream:
// service traffic keeps flowing across a restart). A failed sync is
// logged and retried with backoff. Run may be called once.
func (p *Proxier) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("proxier already ran")
	}
	defer p.close()
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		p.factory.Shutdown()
	}()
	p.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		return nil // ctx ended first
	}
	p.cacheSynced.Store(true)
	p.log.Info("caches synced, syncing rules", "node", p.o.NodeName, "clusterCIDRs", p.o.ClusterCIDRs,
		"families", p.o.Families(), "minSyncPeriod", p.o.MinSyncPeriod, "syncPeriod", p.o.SyncPeriod)

	var backoff time.Duration
	var lastStart time.Time
	for {
		// Drain a pending trigger: this sync sees everything up to now.
		select {
		case <-p.trigger:
		default:
		}
		lastStart = time.Now()
		wait := p.o.SyncPeriod
		if err := p.Sync(); err != nil {
			backoff = min(max(2*backoff, time.Second), max(p.o.SyncPeriod, time.Second))
			wait = backoff
			p.log.Error("sync failed; retrying", "error", err, "retryIn", wait)
		} else {
			backoff = 0
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		case <-p.trigger:
			timer.Stop()
			if backoff > 0 { // failing: keep to the backoff, a change does not cut it short
				if !sleepCtx(ctx, time.Until(lastStart.Add(backoff))) {
					return nil
				}
				break
			}
			// Coalesce a burst: at most one sync per MinSyncPeriod.
			if !sleepCtx(ctx, time.Until(lastStart.Add(p.o.MinSyncPeriod))) {
				return nil
			}
		}
	}
}

// sleepCtx sleeps d (if positive) and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Sync writes the rules for the listers' current content now and deletes
// stale UDP conntrack entries. Run calls it; before Run has synced its
// caches it refuses, so partial state is never programmed.
func (p *Proxier) Sync() error {
	if !p.cacheSynced.Load() {
		return errors.New("caches not synced yet")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	sls, err := p.slices.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list endpointslices: %w", err)
	}
	ports := ServicePorts(svcs, sls)
	d := Build(ports, p.o)
	var errs []error
	for _, rs := range d.Rulesets {
		if err := p.appliers[rs.Family].apply(rs); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := p.cleanConntrack(rs.Family, ports); err != nil {
			// The rules are right; stale flows only delay clients that
			// keep sending. Log and go on.
			p.log.Warn("conntrack cleanup failed", "family", rs.Family.String(), "error", err)
		}
		p.prev[rs.Family] = ports
	}
	if err := errors.Join(errs...); err != nil {
		p.metrics.failures.Inc()
		return err
	}
	now := time.Now()
	p.metrics.duration.Observe(now.Sub(start).Seconds())
	p.metrics.lastSync.Set(float64(now.UnixNano()) / 1e9)
	p.lastSync.Store(&now)
	p.log.Debug("synced rules", "servicePorts", len(ports), "took", now.Sub(start))
	return nil
}

func (p *Proxier) cleanConntrack(f Family, ports []*ServicePort) error {
	filters := staleUDPFlows(p.prev[f], ports, f)
	if len(filters) == 0 {
		return nil
	}
	if p.ct == nil {
		ns := netns.None()
		if p.netns != nil {
			ns = netns.NsHandle(p.netnsFd())
		}
		h, err := netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
		if err != nil {
			return fmt.Errorf("netlink handle: %w", err)
		}
		p.ct = h
	}
	n, err := deleteFlows(p.ct, f, filters)
	if n > 0 {
		p.log.Info("deleted stale UDP conntrack entries", "family", f.String(), "entries", n)
	}
	return err
}

// metrics are upstream kube-proxy's sync metrics.
type metrics struct {
	duration   prometheus.Histogram
	lastSync   prometheus.Gauge
	lastQueued prometheus.Gauge
	failures   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kubeproxy_sync_proxy_rules_duration_seconds",
			Help:    "SyncProxyRules latency in seconds",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
			Help: "The last time proxy rules were successfully synced",
		}),
		lastQueued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
			Help: "The last time a sync of proxy rules was queued",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
			Help: "Cumulative proxy nftables sync failures",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.duration, m.lastSync, m.lastQueued, m.failures} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register metrics: %w", err)
			}
		}
	}
	return m, nil
}
