package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/components/kubelab/local"
	"github.com/kubelab/kubelab/components/scheduler"
)

// podTimes records when one pod was created, bound and seen Running.
type podTimes struct {
	created, bound, running time.Time
}

func run(ctx context.Context, c config, out io.Writer) error {
	dir := c.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "bench-scheduler-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cluster, err := local.Start(ctx, local.Options{DataDir: dir, Port: 0, Controllers: []string{"nodeipam"}, NoScheduler: true, ClusterCIDR: "10.128.0.0/9"})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cluster.Run(ctx, nil) }()
	<-cluster.APIServer.Ready()
	cfg, err := clientcmd.BuildConfigFromFlags("", cluster.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 1e6, 1e6
	client := kubernetes.NewForConfigOrDie(cfg)

	fmt.Fprintf(os.Stderr, "starting %d hollow nodes...\n", c.nodes)
	child, err := startHollow(ctx, c, cluster.Kubeconfig, os.Stderr)
	if err != nil {
		return err
	}
	defer func() { cancel(); _ = child.Wait() }()
	start := time.Now()
	if err := waitNodes(ctx, client, c.nodes); err != nil {
		return err
	}
	nodesReady := time.Since(start)
	fmt.Fprintf(os.Stderr, "%d nodes Ready with podCIDRs in %v\n", c.nodes, nodesReady.Round(time.Millisecond))

	sched, err := scheduler.New(cfg, scheduler.Options{})
	if err != nil {
		return err
	}
	go func() { _ = sched.Run(ctx) }()
	<-sched.Ready()

	ns := "bench"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	times := make([]podTimes, c.pods)
	var mu sync.Mutex
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var bound, running atomic.Int64
	allRunning := make(chan struct{})
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Modified && ev.Type != watch.Added {
				continue
			}
			p := ev.Object.(*corev1.Pod)
			i, err := strconv.Atoi(strings.TrimPrefix(p.Name, "p-"))
			if err != nil || i >= len(times) {
				continue
			}
			now := time.Now()
			mu.Lock()
			if p.Spec.NodeName != "" && times[i].bound.IsZero() {
				times[i].bound = now
				bound.Add(1)
			}
			if p.Status.Phase == corev1.PodRunning && times[i].running.IsZero() {
				times[i].running = now
				if running.Add(1) == int64(c.pods) {
					close(allRunning)
				}
			}
			mu.Unlock()
		}
	}()

	fmt.Fprintf(os.Stderr, "creating %d pods with %d creators...\n", c.pods, c.creators)
	var next atomic.Int64
	var wg sync.WaitGroup
	var createErrs atomic.Int64
	t0 := time.Now()
	for g := 0; g < c.creators; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= c.pods || ctx.Err() != nil {
					return
				}
				mu.Lock()
				times[i].created = time.Now()
				mu.Unlock()
				if _, err := client.CoreV1().Pods(ns).Create(ctx, benchPod(i), metav1.CreateOptions{}); err != nil {
					createErrs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	createDur := time.Since(t0)
	select {
	case <-allRunning:
	case <-time.After(10 * time.Minute):
		return fmt.Errorf("not all pods Running after 10 minutes: bound %d, running %d", bound.Load(), running.Load())
	case <-ctx.Done():
		return ctx.Err()
	}
	total := time.Since(t0)
	rss := rssMB()
	stats := sched.Stats()
	mu.Lock()
	defer mu.Unlock()
	report(out, c, times, createDur, total, nodesReady, rss, createErrs.Load(), stats)
	return nil
}

func benchPod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "registry.k8s.io/pause:3.10",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
		}}},
	}
}

// waitNodes waits until n nodes are Ready and have a podCIDR.
func waitNodes(ctx context.Context, client kubernetes.Interface, n int) error {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			ready := 0
			for _, node := range list.Items {
				if node.Spec.PodCIDR == "" {
					continue
				}
				for _, cond := range node.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			if ready >= n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("nodes not ready within 10 minutes")
}

// rssMB reads this process's resident set size.
func rssMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(float64(len(d)-1)*p)]
}

func report(out io.Writer, c config, times []podTimes, createDur, total, nodesReady time.Duration, rss float64, createErrs int64, st scheduler.Stats) {
	var lat []time.Duration
	var boundAt []time.Time
	first := times[0].created
	for _, t := range times {
		if t.created.Before(first) {
			first = t.created
		}
		if !t.bound.IsZero() {
			lat = append(lat, t.bound.Sub(t.created))
			boundAt = append(boundAt, t.bound)
		}
	}
	sort.Slice(boundAt, func(i, j int) bool { return boundAt[i].Before(boundAt[j]) })
	overall := float64(len(boundAt)) / boundAt[len(boundAt)-1].Sub(first).Seconds()
	lo, hi := len(boundAt)/10, len(boundAt)*9/10
	steady := float64(hi-lo) / boundAt[hi].Sub(boundAt[lo]).Seconds()
	host, _ := os.Hostname()
	fmt.Fprintf(out, "## kube-scheduler: %d hollow nodes, %d pods\n\n", c.nodes, c.pods)
	fmt.Fprintf(out, "machine: %s, %d CPUs, %s; command: `make bench-scheduler`\n\n", host, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(out, "| measure | kubelab | target | upstream v1.37.2 |\n|---|---|---|---|\n")
	fmt.Fprintf(out, "| pods bound per second, steady (10%%-90%%) | %.0f | >= 1,000 | 288 (create-bound) |\n", steady)
	fmt.Fprintf(out, "| pods bound per second, overall | %.0f | >= 1,000 | 288 |\n", overall)
	fmt.Fprintf(out, "| create-to-bound p50 | %v | | |\n", percentile(lat, 0.50).Round(time.Millisecond))
	fmt.Fprintf(out, "| create-to-bound p99 | %v | <= 1 s | 3.5 s |\n", percentile(lat, 0.99).Round(time.Millisecond))
	fmt.Fprintf(out, "| all pods created | %v | | |\n", createDur.Round(time.Millisecond))
	fmt.Fprintf(out, "| first create to all %d Running | %v | <= 30 s | 34.7 s to all bound |\n", c.pods, total.Round(time.Millisecond))
	fmt.Fprintf(out, "| control plane RSS at the end (etcd+apiserver+scheduler+nodeipam, one process) | %.0f MB | < 775 MB | 1,550 MB |\n", rss)
	fmt.Fprintf(out, "| %d nodes registered and Ready | %v | | kwok: 10,000 in 180 s |\n", c.nodes, nodesReady.Round(time.Millisecond))
	fmt.Fprintf(out, "\nscheduler: %d attempts, %d bound, %d unschedulable, %d errors; %d create errors\n", st.Attempts, st.Bound, st.Unschedulable, st.Errors, createErrs)
}
