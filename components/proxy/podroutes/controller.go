// Package podroutes keeps the routes that carry pod traffic between
// nodes on one L2 network, in the spirit of kindnetd's route sync: on each
// node, for every other Node with podCIDRs and an InternalIP, a route
// "<podCIDR> via <InternalIP>" in the main table (IPv4, and IPv6 for a
// node with IPv6 podCIDRs and an IPv6 InternalIP). Routes of nodes that
// are deleted or whose podCIDR or IP changed are removed or replaced.
//
// The controller owns only the routes marked with its route protocol
// (DefaultProtocol, 0xAB): it never changes or deletes another route, and
// on start it removes the routes it owns that no node needs any more. It
// builds no overlay: a node whose InternalIP is not on a directly
// connected network is skipped with a log line. Routes stay in place when
// the controller stops, so traffic keeps flowing across its restarts.
package podroutes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// DefaultProtocol marks the routes the controller owns (the rtm_protocol
// of the routes, shown as "proto 171" by `ip route`).
const DefaultProtocol netlink.RouteProtocol = 0xAB

// DefaultResyncPeriod is how often the routes are checked against the
// kernel even without a Node event: a route deleted by hand comes back
// within it.
const DefaultResyncPeriod = 30 * time.Second

// Name names the controller in logs and its workqueue.
const Name = "podroutes"

// syncKey is the one key of the queue: every sync computes all routes.
const syncKey = "routes"

// Handle is the part of a netlink handle the controller uses;
// *netlink.Handle is one.
type Handle interface {
	RouteListFiltered(family int, filter *netlink.Route, filterMask uint64) ([]netlink.Route, error)
	RouteAdd(route *netlink.Route) error
	RouteReplace(route *netlink.Route) error
	RouteDel(route *netlink.Route) error
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
}

var _ Handle = (*netlink.Handle)(nil)

// Options tune the controller. The zero value is the defaults.
type Options struct {
	// Handle is where the routes are kept (nil: the network namespace
	// the controller runs in). Tests pass netlink.NewHandleAt(ns) for a
	// throwaway namespace.
	Handle Handle
	// Protocol marks the routes the controller owns (0: DefaultProtocol).
	// It must be above 4: 0 to 4 are the kernel's, boot's and static
	// routes, which the controller must never take for its own.
	Protocol netlink.RouteProtocol
	// ResyncPeriod is how often the routes are synced without a Node
	// event (0: DefaultResyncPeriod).
	ResyncPeriod time.Duration
	// Logger receives the controller's logs (nil: slog.Default()).
	Logger *slog.Logger
}

// Controller keeps this node's routes to the other nodes' podCIDRs.
type Controller struct {
	client   kubernetes.Interface
	nodeName string
	opts     Options
	log      *slog.Logger
	queue    workqueue.TypedRateLimitingInterface[string]

	// Set by Run.
	handle Handle
	nodes  corelisters.NodeLister

	readyOnce sync.Once
	ready     chan struct{}
	// skipped are the podCIDRs skipped by the last sync with their
	// reasons, so that a reason is logged when it appears or changes, not
	// at every sync. Only the sync goroutine touches it.
	skipped map[[2]string]string
}

// New returns the controller of node nodeName's routes; Run starts it.
func New(client kubernetes.Interface, nodeName string, opts Options) *Controller {
	if opts.Protocol == 0 {
		opts.Protocol = DefaultProtocol
	}
	if opts.ResyncPeriod <= 0 {
		opts.ResyncPeriod = DefaultResyncPeriod
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Controller{
		client:   client,
		nodeName: nodeName,
		opts:     opts,
		log:      log.With("controller", Name, "node", nodeName),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, opts.ResyncPeriod),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name}),
		ready:   make(chan struct{}),
		skipped: map[[2]string]string{},
	}
}

// Ready is closed after the first successful sync: from then on the
// routes of every node known at start are in place and the stale routes
// the controller owned are gone.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// Run watches the Nodes and keeps the routes until ctx ends, then
// returns nil, leaving the routes in place; it returns an error only when
// it cannot start (an invalid option, no netlink socket, ctx ended before
// the Node cache synced). A Controller runs once.
func (c *Controller) Run(ctx context.Context) error {
	if c.nodeName == "" {
		return errors.New("podroutes: the node name is empty")
	}
	if p := c.opts.Protocol; p <= unix.RTPROT_STATIC || p > 255 {
		return fmt.Errorf("podroutes: route protocol %d is invalid: it must be in [%d, 255] (0 to %d are the kernel's, boot's and static routes)",
			p, unix.RTPROT_STATIC+1, unix.RTPROT_STATIC)
	}
	c.handle = c.opts.Handle
	if c.handle == nil {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("podroutes: open a netlink handle: %w", err)
		}
		defer h.Close()
		c.handle = h
	}
	// Also on the early returns below: the queue's goroutines end.
	defer c.queue.ShutDown()

	factory := informers.NewSharedInformerFactory(c.client, 0)
	nodeInf := factory.Core().V1().Nodes()
	c.nodes = nodeInf.Lister()
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.queue.Add(syncKey) },
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.Node)
			n, ok2 := cur.(*corev1.Node)
			if !ok1 || !ok2 || routesMayDiffer(o, n) {
				c.queue.Add(syncKey)
			}
		},
		DeleteFunc: func(any) { c.queue.Add(syncKey) },
	}); err != nil {
		return fmt.Errorf("podroutes: watch nodes: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	c.log.Info("starting controller", "protocol", int(c.opts.Protocol), "resync", c.opts.ResyncPeriod.String())
	defer c.log.Info("stopped controller")
	if !cache.WaitForNamedCacheSync(Name, ctx.Done(), nodeInf.Informer().HasSynced) {
		return fmt.Errorf("podroutes: wait for the node cache: %w", context.Cause(ctx))
	}
	c.queue.Add(syncKey)
	var wg sync.WaitGroup
	wg.Go(func() {
		for c.processNext() {
		}
	})
	// The worker stops once the queue is shut down; it must be done with
	// the handle before Run closes it.
	defer wg.Wait()
	defer c.queue.ShutDown()

	tick := time.NewTicker(c.opts.ResyncPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			c.queue.Add(syncKey)
		}
	}
}

// processNext syncs once the queue has the key; it reports false once the
// queue is shut down. A failed sync is retried with backoff (capped at the
// resync period), a successful one resets the backoff.
func (c *Controller) processNext() bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(); err != nil {
		c.log.Warn("sync failed, retrying", "err", err, "retries", c.queue.NumRequeues(key))
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// routesMayDiffer reports whether an update of a Node can change routes:
// node status heartbeats (conditions) cannot.
func routesMayDiffer(old, cur *corev1.Node) bool {
	return old.Spec.PodCIDR != cur.Spec.PodCIDR ||
		!equality.Semantic.DeepEqual(old.Spec.PodCIDRs, cur.Spec.PodCIDRs) ||
		!equality.Semantic.DeepEqual(old.Status.Addresses, cur.Status.Addresses)
}

// sync brings the routes the controller owns to the desired set. A route
// that cannot be written does not stop the others; the errors together
// put the key back with backoff.
func (c *Controller) sync() error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	host, owned, err := c.readHost()
	if err != nil {
		return err
	}
	desired, skipped := Desired(nodes, c.nodeName, host)
	c.logSkipped(skipped)

	writes, deletes := plan(owned, desired)
	var errs []error
	for i := range deletes {
		r := &deletes[i]
		switch err := c.handle.RouteDel(r); {
		case errors.Is(err, unix.ESRCH): // gone already
		case err != nil:
			errs = append(errs, fmt.Errorf("delete route %s via %s: %w", r.Dst, r.Gw, err))
		default:
			c.log.Info("removed route", "dst", r.Dst.String(), "via", r.Gw.String())
		}
	}
	for _, w := range writes {
		if w.Replaces != nil {
			if err := c.handle.RouteReplace(netlinkRoute(w.Route, c.opts.Protocol, w.Replaces.Priority)); err != nil {
				errs = append(errs, fmt.Errorf("replace route %s: %w", w.Route, err))
				continue
			}
			c.log.Info("replaced route", "peer", w.Route.Node, "dst", w.Route.Dst, "via", w.Route.Gw, "was", w.Replaces.Gw.String())
			continue
		}
		if err := c.handle.RouteAdd(netlinkRoute(w.Route, c.opts.Protocol, 0)); err != nil {
			errs = append(errs, fmt.Errorf("add route %s: %w", w.Route, err))
			continue
		}
		c.log.Info("added route", "peer", w.Route.Node, "dst", w.Route.Dst, "via", w.Route.Gw)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.readyOnce.Do(func() {
		c.log.Info("routes in sync", "routes", len(desired), "skipped", len(skipped))
		close(c.ready)
	})
	return nil
}

// logSkipped logs each skipped podCIDR once per reason, and when a skipped
// one gets its route after all.
func (c *Controller) logSkipped(skipped []Skipped) {
	now := make(map[[2]string]string, len(skipped))
	for _, s := range skipped {
		k := [2]string{s.Node, s.PodCIDR}
		now[k] = s.Reason
		if c.skipped[k] != s.Reason {
			c.log.Warn("no route to a node's podCIDR", "peer", s.Node, "podCIDR", s.PodCIDR, "reason", s.Reason)
		}
	}
	for k := range c.skipped {
		if _, ok := now[k]; !ok {
			c.log.Info("podCIDR no longer skipped", "peer", k[0], "podCIDR", k[1])
		}
	}
	c.skipped = now
}

// readHost lists the main table's routes and the host's addresses: the
// directly connected networks, the destinations of routes others own, and
// the routes the controller owns.
func (c *Controller) readHost() (Host, []netlink.Route, error) {
	var routes []netlink.Route
	err := retryInterrupted(func() (err error) {
		routes, err = c.handle.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		return err
	})
	if err != nil {
		return Host{}, nil, fmt.Errorf("list routes: %w", err)
	}
	var addrs []netlink.Addr
	err = retryInterrupted(func() (err error) {
		addrs, err = c.handle.AddrList(nil, netlink.FAMILY_ALL)
		return err
	})
	if err != nil {
		return Host{}, nil, fmt.Errorf("list addresses: %w", err)
	}
	host, owned := splitRoutes(routes, c.opts.Protocol)
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		if ip, ok := addrOf(a.IP); ok {
			host.Local = append(host.Local, ip)
		}
	}
	return host, owned, nil
}

// splitRoutes sorts main-table routes into those marked with protocol
// (owned) and the others, whose destinations are Host.Foreign and which,
// when they are unicast routes without a gateway, are Host.OnLink.
func splitRoutes(routes []netlink.Route, protocol netlink.RouteProtocol) (Host, []netlink.Route) {
	var host Host
	var owned []netlink.Route
	for _, r := range routes {
		if r.Table != unix.RT_TABLE_MAIN {
			continue
		}
		if r.Protocol == protocol {
			owned = append(owned, r)
			continue
		}
		dst, ok := prefixOf(r.Dst)
		if !ok {
			continue
		}
		host.Foreign = append(host.Foreign, dst)
		if r.Type == unix.RTN_UNICAST && r.Gw == nil && len(r.MultiPath) == 0 && r.LinkIndex > 0 && !dst.Addr().IsLinkLocalUnicast() {
			host.OnLink = append(host.OnLink, OnLink{Prefix: dst, LinkIndex: r.LinkIndex})
		}
	}
	return host, owned
}

// retryInterrupted runs a netlink dump again when the kernel reports that
// the table changed while it was being dumped.
func retryInterrupted(dump func() error) error {
	var err error
	for range 5 {
		if err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}
