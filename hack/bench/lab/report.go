package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/images"
)

// Anchors (DESIGN.md §4 and the targets).
const (
	kindSingleNode   = 14 * time.Second // kind v0.29, one node
	clusterTarget    = 20 * time.Second // default 3-node cluster Ready
	upstreamStartSLO = 5 * time.Second  // upstream pod startup p99 SLO
	startupTarget    = time.Second      // pod startup p99
)

// machine describes where the benchmark ran.
type machine struct {
	cpus          int
	model, kernel string
	docker        string
	load0         string
	at            time.Time
}

func describeMachine(ctx context.Context) machine {
	m := machine{cpus: runtime.NumCPU(), model: "?", kernel: "?", docker: "?", load0: loadAverage(), at: time.Now().UTC()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	if info, err := docker.GetInfo(ctx); err == nil {
		m.docker = fmt.Sprintf("Docker %s, %s, cgroup v%s (%s)", info.ServerVersion, info.Driver, info.CgroupVersion, info.CgroupDriver)
	}
	return m
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// verdict marks whether got is within target.
func verdict(got, target time.Duration) string {
	if got <= target {
		return "✅"
	}
	return "❌"
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// report prints the results as markdown.
func report(out io.Writer, m machine, c config, nodes int, create time.Duration, s, serial, paced startup, sizes []images.Result) {
	fmt.Fprintf(out, "\nMachine: %d CPUs (%s), kernel %s, %s, %s; load average %s at start, %s at the end; %s\n\n",
		m.cpus, m.model, m.kernel, m.docker, runtime.Version(), m.load0, loadAverage(), m.at.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintln(out, "| measure | kubelab | target | anchor |")
	fmt.Fprintln(out, "|---|---:|---|---|")
	if create > 0 {
		fmt.Fprintf(out, "| `kubelab create cluster` (%s, %d nodes) until all nodes Ready | %s | ≤ %s %s | kind: %s for one node |\n",
			c.configPath, nodes, ms(create), clusterTarget, verdict(create, clusterTarget), kindSingleNode)
	}
	p50, p99 := percentile(s.createToRunning, 0.5), percentile(s.createToRunning, 0.99)
	fmt.Fprintf(out, "| pod startup p50, %d pods at once (create -> Running seen by watch) | %s | | |\n", c.pods, ms(p50))
	fmt.Fprintf(out, "| pod startup p99 | %s | ≤ %s %s | upstream SLO ≤ %s %s |\n",
		ms(p99), startupTarget, verdict(p99, startupTarget), upstreamStartSLO, verdict(p99, upstreamStartSLO))
	fmt.Fprintf(out, "| create -> bound p50 / p99 | %s / %s | | |\n",
		ms(percentile(s.createToBound, 0.5)), ms(percentile(s.createToBound, 0.99)))
	fmt.Fprintf(out, "| bound -> Running p50 / p99 | %s / %s | | |\n",
		ms(percentile(s.boundToRunning, 0.5)), ms(percentile(s.boundToRunning, 0.99)))
	fmt.Fprintf(out, "| first create -> all %d Running | %s | | |\n", c.pods, ms(s.all))
	if n := len(serial.createToRunning); n > 0 {
		fmt.Fprintf(out, "| pod startup p50 / p99, %d pods one at a time | %s / %s | | |\n", n,
			ms(percentile(serial.createToRunning, 0.5)), ms(percentile(serial.createToRunning, 0.99)))
		fmt.Fprintf(out, "| of which bound -> Running p50 / p99 | %s / %s | | |\n",
			ms(percentile(serial.boundToRunning, 0.5)), ms(percentile(serial.boundToRunning, 0.99)))
	}
	if n := len(paced.createToRunning); n > 0 {
		p99 := percentile(paced.createToRunning, 0.99)
		fmt.Fprintf(out, "| pod startup p50 / p99, %d pods at %g/s (paced, as density tests create them) | %s / %s | ≤ %s %s | |\n", n, c.pacedQPS,
			ms(percentile(paced.createToRunning, 0.5)), ms(p99), startupTarget, verdict(p99, startupTarget))
	}
	var spread []string
	for node, n := range s.perNode {
		spread = append(spread, fmt.Sprintf("%s %d", node, n))
	}
	sort.Strings(spread)
	fmt.Fprintf(out, "\nPods per node: %s.\n\n", strings.Join(spread, ", "))
	if len(sizes) == 0 {
		return
	}
	fmt.Fprintln(out, "| image | size | compressed | vs upstream kube-apiserver (34 MB compressed) |")
	fmt.Fprintln(out, "|---|---:|---:|---:|")
	for _, r := range sizes {
		share := "—"
		if r.Name != "node" && r.Compressed > 0 {
			share = fmt.Sprintf("%.0f%%", 100*float64(r.Compressed)/images.UpstreamAPIServerCompressed)
		}
		fmt.Fprintf(out, "| %s/%s | %s | %s | %s |\n", images.Repository, r.Name, images.MB(r.Size), images.MB(r.Compressed), share)
	}
}
