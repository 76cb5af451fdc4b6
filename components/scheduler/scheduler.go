// Package scheduler is kubelab's kube-scheduler as a library. It watches
// pods that have no node and name this scheduler, keeps a cache of nodes
// and the pods bound to them, filters and scores nodes in parallel over a
// sample of the cluster (upstream's percentageOfNodesToScore), assumes the
// chosen node at once so the next pod sees the resources taken, and binds
// through pods/binding asynchronously. Pods that fit nowhere get the
// PodScheduled=False condition and a FailedScheduling event in upstream's
// words and wait in the scheduling queue until a cluster event (or their
// backoff) lets them try again. With leader election only the holder of
// the Lease schedules.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/scheduler/cache"
	"github.com/kubelab/kubelab/components/scheduler/framework"
	"github.com/kubelab/kubelab/components/scheduler/queue"
)

// DefaultSchedulerName is the spec.schedulerName of pods that name no
// scheduler.
const DefaultSchedulerName = corev1.DefaultSchedulerName

// Options configure a Scheduler; zero values take the defaults noted.
type Options struct {
	// SchedulerName selects the pods to schedule ("default-scheduler").
	SchedulerName string
	// LeaderElection, when set, schedules only while holding the Lease;
	// nil schedules at once.
	LeaderElection *LeaderElection
	// PercentageOfNodesToScore bounds how many feasible nodes a cycle looks
	// for; 0 adapts to the cluster size as upstream does (50% minus 1% per
	// 125 nodes, at least 5%, at least 100 nodes).
	PercentageOfNodesToScore int32
	// Parallelism is the number of goroutines filtering and scoring nodes
	// (GOMAXPROCS).
	Parallelism int
	// BindWorkers is the number of goroutines making API calls (bindings,
	// status updates) so that the scheduling loop never waits on them (64).
	BindWorkers int
	// PodInitialBackoff and PodMaxBackoff bound the retry backoff of a pod
	// that failed (1s doubling up to 10s).
	PodInitialBackoff, PodMaxBackoff time.Duration
	// Recorder records events; nil records them to the API server as
	// SchedulerName.
	Recorder record.EventRecorder
	// Logger logs; nil uses slog.Default().
	Logger *slog.Logger
}

// Stats counts what the scheduler did.
type Stats struct {
	// Attempts is the number of scheduling attempts.
	Attempts int64
	// Bound is the number of successful bindings.
	Bound int64
	// Unschedulable is the number of attempts that found no fitting node.
	Unschedulable int64
	// Errors counts failed bindings and other errors.
	Errors int64
}

// Scheduler is a kube-scheduler. Build it with New and start it with Run
// (once).
type Scheduler struct {
	opts     Options
	log      *slog.Logger
	client   kubernetes.Interface
	recorder record.EventRecorder
	events   record.EventBroadcaster

	cache *cache.Cache
	queue *queue.Queue

	unassigned, assigned, nodes, namespaces toolscache.SharedIndexInformer

	ready   chan struct{}
	leading atomic.Bool
	stats   struct{ attempts, bound, unschedulable, errors atomic.Int64 }

	// tasks feeds the API workers.
	tasks chan func(context.Context)

	// State of the scheduling loop (one goroutine).
	cycle     framework.Cycle
	nextStart int
	statuses  []*framework.Status
	feasible  []*framework.NodeInfo
	totals    []int64
	rand      *rand.Rand
}

// assumedPodTTL is how long an assumed pod whose binding succeeded waits
// for the informer to report it before it is dropped.
const assumedPodTTL = 30 * time.Second

// New builds a scheduler talking to the API server at cfg. The caller sets
// cfg's QPS and Burst (a scheduler makes at least one request per pod);
// without a content type, protobuf is used as upstream's scheduler does.
func New(cfg *rest.Config, opts Options) (*Scheduler, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.ContentType == "" {
		cfg.ContentType = runtime.ContentTypeProtobuf
		cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("scheduler client: %w", err)
	}
	return NewWithClient(client, opts)
}

// NewWithClient builds a scheduler on an existing clientset.
func NewWithClient(client kubernetes.Interface, opts Options) (*Scheduler, error) {
	if opts.SchedulerName == "" {
		opts.SchedulerName = DefaultSchedulerName
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = goruntime.GOMAXPROCS(0)
	}
	if opts.BindWorkers <= 0 {
		opts.BindWorkers = 64
	}
	if opts.PercentageOfNodesToScore < 0 || opts.PercentageOfNodesToScore > 100 {
		return nil, fmt.Errorf("percentageOfNodesToScore %d is not within 0..100", opts.PercentageOfNodesToScore)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if le := opts.LeaderElection; le != nil {
		if err := le.complete(); err != nil {
			return nil, err
		}
	}
	s := &Scheduler{
		opts:   opts,
		log:    opts.Logger.With("component", "kube-scheduler"),
		client: client,
		cache:  cache.New(assumedPodTTL),
		queue:  queue.New(queue.Options{InitialBackoff: opts.PodInitialBackoff, MaxBackoff: opts.PodMaxBackoff}),
		ready:  make(chan struct{}),
		rand:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	s.recorder = opts.Recorder
	s.setupInformers()
	s.cycle.NamespaceLabels = s.namespaceLabels
	return s, nil
}

// Ready is closed once the informers have synced.
func (s *Scheduler) Ready() <-chan struct{} { return s.ready }

// IsLeader reports whether the scheduler is scheduling (it holds the Lease,
// or runs without leader election).
func (s *Scheduler) IsLeader() bool { return s.leading.Load() }

// Stats returns counters of the scheduler's work so far.
func (s *Scheduler) Stats() Stats {
	return Stats{
		Attempts:      s.stats.attempts.Load(),
		Bound:         s.stats.bound.Load(),
		Unschedulable: s.stats.unschedulable.Load(),
		Errors:        s.stats.errors.Load(),
	}
}

// ErrLeadershipLost is returned by Run when the scheduler lost its Lease;
// upstream's scheduler exits then, and so should the caller.
var ErrLeadershipLost = errors.New("leader election lost")

// Run starts the informers, waits for them to sync, and schedules until ctx
// ends (or, with leader election, until the Lease is lost). Run may be
// called once.
func (s *Scheduler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.recorder == nil {
		s.events = record.NewBroadcaster()
		s.recorder = s.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: s.opts.SchedulerName})
		sink := newAsyncSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")}, s.log)
		wg.Go(func() { sink.run(ctx, 8) })
		s.events.StartRecordingToSink(sink)
		defer s.events.Shutdown()
	}
	for _, inf := range []toolscache.SharedIndexInformer{s.unassigned, s.assigned, s.nodes, s.namespaces} {
		wg.Go(func() { inf.RunWithContext(ctx) })
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), s.unassigned.HasSynced, s.assigned.HasSynced, s.nodes.HasSynced, s.namespaces.HasSynced) {
		return nil // ctx ended before the caches synced
	}
	close(s.ready)
	wg.Go(func() { s.cache.Run(ctx) })
	wg.Go(func() { s.queue.Run(ctx) })
	nodes, pods := s.cache.Counts()
	s.log.Info("scheduler caches synced", "nodes", nodes, "boundPods", pods)
	if s.opts.LeaderElection == nil {
		s.leading.Store(true)
		defer s.leading.Store(false)
		s.schedule(ctx)
		return nil
	}
	return s.runLeaderElection(ctx)
}

// schedule runs the API workers and the scheduling loop until ctx ends.
func (s *Scheduler) schedule(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	s.tasks = make(chan func(context.Context), 4*s.opts.BindWorkers)
	for range s.opts.BindWorkers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case task := <-s.tasks:
					task(ctx)
				}
			}
		})
	}
	s.log.Info("scheduling", "schedulerName", s.opts.SchedulerName, "parallelism", s.opts.Parallelism)
	for s.scheduleOne(ctx) {
	}
}

// async hands an API call to the workers; it gives up when ctx ends.
func (s *Scheduler) async(ctx context.Context, task func(context.Context)) {
	select {
	case s.tasks <- task:
	case <-ctx.Done():
	}
}
