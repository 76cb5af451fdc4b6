package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// startupTimeout bounds waiting for the burst of pods to run.
const startupTimeout = 2 * time.Minute

// runLabel marks the benchmark's pods.
const runLabel = "bench.kubelab.dev/run"

// startup is the outcome of a pod startup measurement.
type startup struct {
	// createToRunning, createToBound and boundToRunning hold one latency
	// per pod: from just before its create request to the watch event
	// showing it Running, bound to a node, and between the two.
	createToRunning, createToBound, boundToRunning []time.Duration
	// all is the time from the first create to the last pod Running.
	all time.Duration
	// perNode counts the pods each node ran.
	perNode map[string]int
}

// podTimes records when the watch first saw each pod bound and Running.
type podTimes struct {
	mu                      sync.Mutex
	created, bound, running map[string]time.Time
	node                    map[string]string
	// ran receives each pod's name when it is first seen Running.
	ran chan string
}

func (t *podTimes) observe(pod *corev1.Pod, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	name := pod.Name
	if _, ok := t.bound[name]; !ok && pod.Spec.NodeName != "" {
		t.bound[name], t.node[name] = at, pod.Spec.NodeName
	}
	if _, ok := t.running[name]; !ok && pod.Status.Phase == corev1.PodRunning {
		t.running[name] = at
		t.ran <- name // buffered for every pod
	}
}

// readyNodes returns how many nodes are Ready.
func readyNodes(ctx context.Context, client kubernetes.Interface) (int, error) {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list nodes: %w", err)
	}
	n := 0
	for _, node := range list.Items {
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n, nil
}

// pace says how podStartup creates its pods: all at once (the zero
// value), each once the one before runs (serial), or one every interval
// without waiting (as upstream's density tests pace pods at a rate).
type pace struct {
	serial bool
	every  time.Duration
}

// podStartup creates n pods of image in the default namespace, paced by p,
// and times each from its
// create request to the watch event that shows it Running, as upstream's
// pod startup SLI does (image present on the node). The pods are deleted
// afterwards, and gone when it returns.
func podStartup(ctx context.Context, client kubernetes.Interface, n int, image string, p pace) (startup, error) {
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	pods := client.CoreV1().Pods(metav1.NamespaceDefault)
	selector := runLabel + "=" + run
	w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return startup{}, fmt.Errorf("watch pods: %w", err)
	}
	defer w.Stop()
	t := &podTimes{
		created: map[string]time.Time{}, bound: map[string]time.Time{}, running: map[string]time.Time{},
		node: map[string]string{}, ran: make(chan string, n),
	}
	go func() {
		for ev := range w.ResultChan() {
			if pod, ok := ev.Object.(*corev1.Pod); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
				t.observe(pod, time.Now())
			}
		}
	}()
	defer deletePods(ctx, pods, selector)

	first := time.Now()
	deadline := time.After(startupTimeout)
	waitRunning := func(count int) error {
		for range count {
			select {
			case <-t.ran:
			case <-ctx.Done():
				return ctx.Err()
			case <-deadline:
				t.mu.Lock()
				defer t.mu.Unlock()
				return fmt.Errorf("only %d of %d pods Running within %s", len(t.running), n, startupTimeout)
			}
		}
		return nil
	}
	create := func(ctx context.Context, name string) error {
		t.mu.Lock()
		t.created[name] = time.Now()
		t.mu.Unlock()
		_, err := pods.Create(ctx, benchPod(name, image, run), metav1.CreateOptions{})
		return err
	}
	switch {
	case p.every > 0:
		tick := time.NewTicker(p.every)
		defer tick.Stop()
		for i := range n {
			if i > 0 {
				<-tick.C
			}
			if err := create(ctx, fmt.Sprintf("bench-%s-%02d", run, i)); err != nil {
				return startup{}, fmt.Errorf("create pod: %w", err)
			}
		}
		if err := waitRunning(n); err != nil {
			return startup{}, err
		}
	case p.serial:
		for i := range n {
			if err := create(ctx, fmt.Sprintf("bench-%s-%02d", run, i)); err != nil {
				return startup{}, fmt.Errorf("create pod: %w", err)
			}
			if err := waitRunning(1); err != nil {
				return startup{}, err
			}
		}
	default:
		g, gctx := errgroup.WithContext(ctx)
		for i := range n {
			g.Go(func() error { return create(gctx, fmt.Sprintf("bench-%s-%02d", run, i)) })
		}
		if err := g.Wait(); err != nil {
			return startup{}, fmt.Errorf("create pods: %w", err)
		}
		if err := waitRunning(n); err != nil {
			return startup{}, err
		}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	s := startup{perNode: map[string]int{}}
	var last time.Time
	for name, created := range t.created {
		running, bound := t.running[name], t.bound[name]
		if bound.IsZero() {
			return startup{}, errors.New("a pod was seen Running before it was seen bound")
		}
		s.createToRunning = append(s.createToRunning, running.Sub(created))
		s.createToBound = append(s.createToBound, bound.Sub(created))
		s.boundToRunning = append(s.boundToRunning, running.Sub(bound))
		s.perNode[t.node[name]]++
		if running.After(last) {
			last = running
		}
	}
	s.all = last.Sub(first)
	return s, nil
}

// deleteTimeout bounds waiting for the benchmark's pods to be gone.
const deleteTimeout = 2 * time.Minute

// deletePods deletes the pods matching selector and waits until they are
// gone (best effort: errors only shorten the wait), so that their teardown
// does not load the next measurement.
func deletePods(ctx context.Context, pods podsClient, selector string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	opts := metav1.ListOptions{LabelSelector: selector}
	// Graceful (the pods' 1 s), so the kubelets finish each deletion
	// once its containers stopped.
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{}, opts); err != nil {
		return
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		list, err := pods.List(ctx, opts)
		if err != nil || len(list.Items) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// podsClient is the part of the pods client deletePods uses.
type podsClient interface {
	DeleteCollection(ctx context.Context, opts metav1.DeleteOptions, listOpts metav1.ListOptions) error
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error)
}

// benchPod is a serve-hostname pod of the test image, never pulled, that
// stops at once when deleted.
func benchPod(name, image, run string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{runLabel: run}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "app", Image: image, ImagePullPolicy: corev1.PullNever,
				Args: []string{"serve-hostname"},
			}},
		},
	}
}

// percentile returns the nearest-rank q-quantile of d (0 < q <= 1).
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}
