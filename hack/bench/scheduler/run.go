package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

	load0 := loadAverage()
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
	stopProfile, err := startCPUProfile(c.cpuProfile)
	if err != nil {
		return err
	}
	cpu0, childCPU0 := selfCPU(), procCPU(child.Process.Pid)
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
	cpu, childCPU := selfCPU()-cpu0, procCPU(child.Process.Pid)-childCPU0
	if err := stopProfile(); err != nil {
		return err
	}
	rss := rssMB()
	mem := readMemStats()
	requests, reqErr := requestCounts(ctx, client)
	if err := writeHeapProfile(c.memProfile); err != nil {
		return err
	}
	stats := sched.Stats()
	mu.Lock()
	defer mu.Unlock()
	report(out, c, times, createDur, total, nodesReady, rss, createErrs.Load(), stats)
	fmt.Fprintf(out, "go heap at the end: %.0f MB in use after the last GC (goal %.0f MB), %.0f MB mapped, %.0f MB returned to the OS; %d GCs, GOGC=%s GOMEMLIMIT=%s\n",
		mem.live, mem.goal, mem.mapped, mem.released, mem.gcs, envOr("GOGC", "100"), envOr("GOMEMLIMIT", "off"))
	fmt.Fprintf(out, "CPU from the first create to all Running: control plane %.1f s (%.2f ms/pod), hollow nodes %.1f s (%.2f ms/pod); load average before: %s\n",
		cpu.Seconds(), cpu.Seconds()*1000/float64(c.pods), childCPU.Seconds(), childCPU.Seconds()*1000/float64(c.pods), load0)
	if reqErr != nil {
		fmt.Fprintf(out, "API requests: %v\n", reqErr)
	} else {
		fmt.Fprintf(out, "API write requests from the start (apiserver_request_total, verb resource/subresource code: count):\n%s", requests)
	}
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

// startCPUProfile starts profiling this process's CPU to path (nothing
// when path is empty) and returns the function that stops it.
func startCPUProfile(path string) (func() error, error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// writeHeapProfile writes the heap profile (in use and allocated) to path
// (nothing when path is empty).
func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
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

// requestCounts tallies the API server's apiserver_request_total for
// writes (and every answer that was not a success), from its /metrics.
func requestCounts(ctx context.Context, client kubernetes.Interface) (string, error) {
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("read /metrics: %w", err)
	}
	counts := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		end := strings.LastIndex(line, "}")
		if end < 0 {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(line[len("apiserver_request_total{"):end], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			continue
		}
		verb, code := labels["verb"], labels["code"]
		write := verb != "GET" && verb != "LIST" && verb != "WATCH"
		if !write && strings.HasPrefix(code, "2") {
			continue
		}
		res := labels["resource"]
		if sub := labels["subresource"]; sub != "" {
			res += "/" + sub
		}
		counts[verb+" "+res+" "+code] += n
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %.0f\n", k, counts[k])
	}
	return b.String(), nil
}

// selfCPU is the CPU time (user and system) this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the CPU time (user and system) process pid used so far, from
// /proc/pid/stat (in clock ticks of 1/100 s, as on Linux).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields count from its ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// memStats are the Go runtime's heap figures, in MB.
type memStats struct {
	live, goal, mapped, released float64
	gcs                          uint64
}

func readMemStats() memStats {
	samples := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"},
		{Name: "/memory/classes/heap/released:bytes"}, {Name: "/memory/classes/total:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(samples)
	mb := func(i int) float64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return float64(samples[i].Value.Uint64()) / (1 << 20)
	}
	var gcs uint64
	if samples[4].Value.Kind() == metrics.KindUint64 {
		gcs = samples[4].Value.Uint64()
	}
	return memStats{live: mb(0), goal: mb(1), released: mb(2), mapped: mb(3), gcs: gcs}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
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
	var lat, toRunning []time.Duration
	var boundAt []time.Time
	first := times[0].created
	for _, t := range times {
		if t.created.Before(first) {
			first = t.created
		}
		if !t.bound.IsZero() {
			lat = append(lat, t.bound.Sub(t.created))
			boundAt = append(boundAt, t.bound)
			if !t.running.IsZero() {
				toRunning = append(toRunning, t.running.Sub(t.bound))
			}
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
	fmt.Fprintf(out, "| bound-to-Running p50 | %v | | |\n", percentile(toRunning, 0.50).Round(time.Millisecond))
	fmt.Fprintf(out, "| bound-to-Running p99 | %v | | |\n", percentile(toRunning, 0.99).Round(time.Millisecond))
	fmt.Fprintf(out, "| all pods created | %v | | |\n", createDur.Round(time.Millisecond))
	fmt.Fprintf(out, "| first create to all %d bound | %v | | |\n", len(boundAt), boundAt[len(boundAt)-1].Sub(first).Round(time.Millisecond))
	fmt.Fprintf(out, "| first create to all %d Running | %v | <= 30 s | 34.7 s to all bound |\n", c.pods, total.Round(time.Millisecond))
	fmt.Fprintf(out, "| control plane RSS at the end (etcd+apiserver+scheduler+nodeipam, one process) | %.0f MB | < 775 MB | 1,550 MB |\n", rss)
	fmt.Fprintf(out, "| %d nodes registered and Ready | %v | | kwok: 10,000 in 180 s |\n", c.nodes, nodesReady.Round(time.Millisecond))
	fmt.Fprintf(out, "\nscheduler: %d attempts, %d bound, %d unschedulable, %d errors; %d create errors\n", st.Attempts, st.Bound, st.Unschedulable, st.Errors, createErrs)
}
