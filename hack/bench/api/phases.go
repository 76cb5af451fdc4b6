package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Namespaces the phases write to.
const (
	nsCreate = "bench-create"
	nsList   = "bench-list"
	nsWatch  = "bench-watch"
)

// bench is one benchmark run against a running control plane.
type bench struct {
	cfg      config
	etcd     *clientv3.Client
	clients  []*kubernetes.Clientset
	progress io.Writer

	// listPods are the pods of nsList as last written, indexed like their names.
	listPods []*corev1.Pod
	results  []result
}

// result is what one phase measured.
type result struct {
	phase   string
	ops     int
	elapsed time.Duration
	lat     []time.Duration // sorted
	errors  int
	err     error // the first error
	notes   []string
	cpu     cpuUsage
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

func (r result) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p+0.999999) - 1
	return r.lat[max(0, min(i, len(r.lat)-1))]
}

var (
	cpuRequest = resource.MustParse("10m")
	memRequest = resource.MustParse("16Mi")
)

// newPod returns a small, realistic pod: one container with a port and
// resource requests.
func newPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "bench", "tier": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.k8s.io/pause:3.10",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: cpuRequest, corev1.ResourceMemory: memRequest}},
			}},
		},
	}
}

// setup creates the namespaces, the pods of nsList, and warms every
// client's connection.
func (b *bench) setup(ctx context.Context) error {
	cs := b.clients[0]
	for _, ns := range []string{nsCreate, nsList, nsWatch} {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	b.listPods = make([]*corev1.Pod, b.cfg.objects)
	var next atomic.Int64
	errs := make([]error, len(b.clients))
	var wg sync.WaitGroup
	for c, cl := range b.clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(b.listPods) {
					return
				}
				p, err := cl.CoreV1().Pods(nsList).Create(ctx, newPod(nsList, fmt.Sprintf("l-%04d", i)), metav1.CreateOptions{})
				if err != nil {
					errs[c] = fmt.Errorf("create list pod %d: %w", i, err)
					return
				}
				b.listPods[i] = p
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(b.progress, "setup: %d pods in namespace %s, %d clients connected\n", len(b.listPods), nsList, len(b.clients))
	return nil
}

// errRetried marks an operation that was neither a success nor an error
// (an update conflict, counted separately).
var errRetried = errors.New("retried")

// loop runs op from every client until the phase's duration is over.
func (b *bench) loop(ctx context.Context, phase string, op func(ctx context.Context, client, iter int) error) result {
	n := len(b.clients)
	lat := make([][]time.Duration, n)
	errs := make([]int, n)
	firstErr := make([]error, n)
	start := time.Now()
	deadline := start.Add(b.cfg.duration)
	var wg sync.WaitGroup
	for c := range n {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
				t0 := time.Now()
				err := op(ctx, c, i)
				d := time.Since(t0)
				switch {
				case errors.Is(err, errRetried):
				case err != nil:
					if errs[c]++; firstErr[c] == nil {
						firstErr[c] = err
					}
				default:
					lat[c] = append(lat[c], d)
				}
			}
		})
	}
	wg.Wait()
	r := result{phase: phase, elapsed: time.Since(start), lat: slices.Concat(lat...)}
	slices.Sort(r.lat)
	r.ops = len(r.lat)
	for c := range n {
		r.errors += errs[c]
		if r.err == nil {
			r.err = firstErr[c]
		}
	}
	return r
}

// runPhase runs one phase and records its result.
func (b *bench) runPhase(ctx context.Context, phase string, base *rest.Config) error {
	var r result
	var err error
	cpu0 := snapCPU()
	switch phase {
	case "etcd":
		r = b.etcdPut(ctx)
	case "create":
		r = b.loop(ctx, phase, func(ctx context.Context, c, i int) error {
			_, err := b.clients[c].CoreV1().Pods(nsCreate).Create(ctx, newPod(nsCreate, fmt.Sprintf("c-%02d-%06d", c, i)), metav1.CreateOptions{})
			return err
		})
	case "get":
		rngs := make([]*rand.Rand, len(b.clients))
		for c := range rngs {
			rngs[c] = rand.New(rand.NewPCG(uint64(c), 42))
		}
		r = b.loop(ctx, phase, func(ctx context.Context, c, _ int) error {
			_, err := b.clients[c].CoreV1().Pods(nsList).Get(ctx, b.listPods[rngs[c].IntN(len(b.listPods))].Name, metav1.GetOptions{})
			return err
		})
	case "list":
		r = b.loop(ctx, phase, func(ctx context.Context, c, _ int) error {
			l, err := b.clients[c].CoreV1().Pods(nsList).List(ctx, metav1.ListOptions{})
			if err == nil && len(l.Items) != len(b.listPods) {
				err = fmt.Errorf("listed %d pods, want %d", len(l.Items), len(b.listPods))
			}
			return err
		})
	case "update":
		r = b.update(ctx)
	case "watch":
		r, err = b.watchLatency(ctx, base)
	}
	if err != nil {
		return err
	}
	r.cpu = usage(cpu0, snapCPU(), r.ops)
	b.results = append(b.results, r)
	fmt.Fprintf(b.progress, "%-7s %8.0f ops/s  p50 %s  p99 %s  (%d ops, %d errors; %s)\n",
		phase, r.rate(), ms(r.percentile(0.50)), ms(r.percentile(0.99)), r.ops, r.errors, r.cpu)
	if r.err != nil {
		fmt.Fprintf(b.progress, "        first error: %v\n", r.err)
	}
	return nil
}

// etcdPut writes ~1 KB values straight to the API server's etcd client,
// the ceiling a create (one etcd transaction) can reach.
func (b *bench) etcdPut(ctx context.Context) result {
	value := strings.Repeat("x", b.cfg.valueSize)
	r := b.loop(ctx, "etcd", func(ctx context.Context, c, i int) error {
		_, err := b.etcd.Put(ctx, fmt.Sprintf("/bench/etcd/%02d/%04d", c, i%1000), value)
		return err
	})
	_, _ = b.etcd.Delete(ctx, "/bench/", clientv3.WithPrefix())
	return r
}

// update changes a label of the pods of nsList through Update with the
// resourceVersion the client last saw. Each client owns the pods whose
// index is its own modulo the number of clients, as a controller owns its
// objects, so a conflict means the server lost track of a version.
func (b *bench) update(ctx context.Context) result {
	var conflicts atomic.Int64
	n := len(b.clients)
	r := b.loop(ctx, "update", func(ctx context.Context, c, i int) error {
		owned := (len(b.listPods) - c + n - 1) / n
		j := c + (i%owned)*n
		p := b.listPods[j].DeepCopy()
		p.Labels["bench-iteration"] = strconv.Itoa(i)
		pods := b.clients[c].CoreV1().Pods(nsList)
		got, err := pods.Update(ctx, p, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			conflicts.Add(1)
			if fresh, gerr := pods.Get(ctx, p.Name, metav1.GetOptions{}); gerr == nil {
				b.listPods[j] = fresh
			}
			return errRetried
		}
		if err != nil {
			return err
		}
		b.listPods[j] = got
		return nil
	})
	r.notes = append(r.notes, fmt.Sprintf("%d conflicts", conflicts.Load()))
	return r
}
