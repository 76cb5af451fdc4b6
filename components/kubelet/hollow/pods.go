package hollow

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubelab/kubelab/components/kubelet/podstatus"
)

// nodeIndex indexes the pod cache by spec.nodeName.
const nodeIndex = "hollow.nodeName"

// cidrRetry is how often a pod waiting for its node's podCIDR is retried
// (and how often the node is fetched to look for it).
const cidrRetry = time.Second

// cidrWarnAfter is how long pods wait for a podCIDR before it is logged.
const cidrWarnAfter = 30 * time.Second

// podRunner runs the pods bound to any of the hollow nodes, from one
// shared informer and one queue.
type podRunner struct {
	h        *Nodes
	factory  informers.SharedInformerFactory
	informer cache.SharedIndexInformer
	lister   corelisters.PodLister
	queue    workqueue.TypedRateLimitingInterface[string]

	mu    sync.Mutex
	state map[string]*podRuntime
}

func newPodRunner(h *Nodes) *podRunner {
	selector := "spec.nodeName!="
	if len(h.nodes) == 1 {
		selector = "spec.nodeName=" + h.nodes[0].name
	}
	factory := informers.NewSharedInformerFactoryWithOptions(h.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = selector }))
	pods := factory.Core().V1().Pods()
	p := &podRunner{
		h: h, factory: factory, informer: pods.Informer(), lister: pods.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "hollow-pods"}),
		state: map[string]*podRuntime{},
	}
	_ = p.informer.SetTransform(func(obj any) (any, error) {
		if m, ok := obj.(metav1.Object); ok {
			m.SetManagedFields(nil)
		}
		return obj, nil
	})
	_ = p.informer.AddIndexers(cache.Indexers{nodeIndex: func(obj any) ([]string, error) {
		if pod, ok := obj.(*corev1.Pod); ok {
			return []string{pod.Spec.NodeName}, nil
		}
		return nil, nil
	}})
	_, _ = p.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.enqueue,
		UpdateFunc: func(_, obj any) { p.enqueue(obj) },
		DeleteFunc: p.enqueue,
	})
	return p
}

// enqueue queues a pod bound to one of the nodes (or a deleted one).
func (p *podRunner) enqueue(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		p.queue.Add(t.Key)
		return
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || p.h.byName[pod.Spec.NodeName] == nil {
		return
	}
	p.queue.Add(pod.Namespace + "/" + pod.Name)
}

// resyncNode queues every pod of a node (it was resumed).
func (p *podRunner) resyncNode(name string) {
	objs, _ := p.informer.GetIndexer().ByIndex(nodeIndex, name)
	for _, o := range objs {
		p.enqueue(o)
	}
}

// run starts the informer and the workers and blocks until ctx ends.
func (p *podRunner) run(ctx context.Context) error {
	defer p.queue.ShutDown()
	p.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), p.informer.HasSynced) {
		p.factory.Shutdown()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("hollow nodes: pod cache did not sync")
	}
	var wg sync.WaitGroup
	for range p.h.opts.PodWorkers {
		wg.Go(func() {
			for p.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	p.queue.ShutDown()
	wg.Wait()
	p.factory.Shutdown()
	return nil
}

func (p *podRunner) processNext(ctx context.Context) bool {
	key, quit := p.queue.Get()
	if quit {
		return false
	}
	defer p.queue.Done(key)
	after, err := p.sync(ctx, key)
	if err != nil {
		if ctx.Err() == nil {
			p.h.stats.Errors.Add(1)
			p.h.log.Debug("pod sync failed", "pod", key, "err", err)
		}
		p.queue.AddRateLimited(key)
		return true
	}
	p.queue.Forget(key)
	if after > 0 {
		p.queue.AddAfter(key, after)
	}
	return true
}

// sync brings the pod's status in line with its simulated containers and
// returns when it needs another look (0: only on change).
func (p *podRunner) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := p.lister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		p.forget(key)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := p.h.byName[pod.Spec.NodeName]
	if n == nil {
		p.forget(key)
		return 0, nil
	}
	if n.stopped.Load() {
		return 0, nil // a dead kubelet does nothing
	}
	now := time.Now()
	r := p.runtime(key, pod.UID)
	if pod.DeletionTimestamp != nil {
		return p.kill(ctx, key, pod, n, r, now)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		p.forget(key) // the kubelet never restarts a finished pod
		return 0, nil
	}
	if r == nil {
		if r, err = p.start(ctx, key, pod, n, now); r == nil {
			return cidrRetry, err
		}
	}
	c := cueOf(pod)
	next := r.advance(c, pod.Spec.RestartPolicy, now, p.h.opts.BackoffBase, p.h.opts.BackoffMax)
	if err := p.writeStatus(ctx, pod, podStatus(pod, r, n.ip.String(), c, now)); err != nil {
		return 0, err
	}
	if next.IsZero() {
		return 0, nil
	}
	return max(time.Until(next), time.Millisecond), nil
}

// runtime returns the state of key if it belongs to the pod with uid; the
// state of an earlier pod of the same name is dropped.
func (p *podRunner) runtime(key string, uid types.UID) *podRuntime {
	p.mu.Lock()
	r := p.state[key]
	p.mu.Unlock()
	if r != nil && r.uid != uid {
		p.forget(key)
		return nil
	}
	return r
}

// start gives a newly seen pod its IP and starts its containers. It
// returns nil while the node has no podCIDR yet (or no free address).
func (p *podRunner) start(ctx context.Context, key string, pod *corev1.Pod, n *node, now time.Time) (*podRuntime, error) {
	r := &podRuntime{uid: pod.UID, node: n, started: now, runStart: now}
	if pod.Spec.HostNetwork {
		r.ip = n.ip
	} else {
		ip, err := p.allocateIP(ctx, pod, n, now)
		if !ip.IsValid() {
			return nil, err
		}
		r.ip, r.pooled = ip, true
	}
	r.adopt(&pod.Status)
	p.mu.Lock()
	p.state[key] = r
	p.mu.Unlock()
	return r, nil
}

// allocateIP returns the pod's IP from its node's podCIDR: the one it
// already reports if still free, else a new one. The node is fetched when
// its podCIDR is not known yet.
func (p *podRunner) allocateIP(ctx context.Context, pod *corev1.Pod, n *node, now time.Time) (netip.Addr, error) {
	n.mu.Lock()
	ask := !n.cidr.IsValid() && now.Sub(n.cidrAsked) >= cidrRetry
	if ask {
		n.cidrAsked = now
	}
	n.mu.Unlock()
	if ask {
		got, err := p.h.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return netip.Addr{}, fmt.Errorf("get node %s for its podCIDR: %w", n.name, err)
		}
		n.mu.Lock()
		n.setCIDRLocked(got.Spec.PodCIDR)
		n.mu.Unlock()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.cidr.IsValid() {
		// Waiting for node IPAM.
		if n.cidrWaiting.IsZero() {
			n.cidrWaiting = now
		} else if now.Sub(n.cidrWaiting) > cidrWarnAfter && !n.cidrWarned {
			n.cidrWarned = true
			p.h.log.Warn("pods wait for the node's podCIDR; is node IPAM running (controller nodeipam, --cluster-cidr)?",
				"node", n.name, "waiting", now.Sub(n.cidrWaiting).Round(time.Second))
		}
		return netip.Addr{}, nil
	}
	if old, err := netip.ParseAddr(pod.Status.PodIP); err == nil && n.pool.reserve(old) {
		return old, nil
	}
	ip, ok := n.pool.allocate()
	if !ok {
		return netip.Addr{}, fmt.Errorf("failed to allocate for range %s: no IP addresses available in range set", n.cidr)
	}
	return ip, nil
}

// forget drops key's state and returns its IP to the node's pool.
func (p *podRunner) forget(key string) {
	p.mu.Lock()
	r := p.state[key]
	delete(p.state, key)
	p.mu.Unlock()
	if r == nil || !r.pooled {
		return
	}
	r.node.mu.Lock()
	r.node.pool.release(r.ip)
	r.node.mu.Unlock()
}

// kill stops a deleted pod's containers after the simulated kill delay,
// reports them terminated and removes the pod (grace period 0).
func (p *podRunner) kill(ctx context.Context, key string, pod *corev1.Pod, n *node, r *podRuntime, now time.Time) (time.Duration, error) {
	if r != nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		if r.killAt.IsZero() {
			delay := p.h.opts.KillDelay
			if pod.DeletionGracePeriodSeconds != nil {
				delay = min(delay, time.Duration(*pod.DeletionGracePeriodSeconds)*time.Second)
			}
			r.killAt = now.Add(min(delay, time.Second))
		}
		if now.Before(r.killAt) {
			return r.killAt.Sub(now), nil
		}
		r.kill(now)
		if err := p.writeStatus(ctx, pod, podStatus(pod, r, n.ip.String(), cueOf(pod), now)); err != nil && !apierrors.IsNotFound(err) {
			return 0, err
		}
	}
	zero := int64(0)
	uid := pod.UID
	err := p.h.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return 0, fmt.Errorf("delete pod %s: %w", key, err)
	}
	p.h.stats.PodDeletes.Add(1)
	p.forget(key)
	return 0, nil
}

// writeStatus patches the pod's status to want when it differs.
func (p *podRunner) writeStatus(ctx context.Context, pod *corev1.Pod, want *corev1.PodStatus) error {
	got, err := podstatus.Patch(ctx, p.h.client, pod, want)
	if err != nil {
		return err
	}
	if got != nil {
		p.h.stats.PodStatusWrites.Add(1)
	}
	return nil
}
