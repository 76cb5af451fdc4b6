package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// upstream holds kube-apiserver v1.37.2's numbers on a machine like these
// (2 cores, 32 clients): what kubelab compares itself with.
var upstream = map[string]struct {
	text string
	rate float64 // the top of upstream's range; targets are twice it
}{
	"create": {"~700/s, p99 ~110 ms", 700},
	"get":    {"1,700-2,100/s", 2100},
	"list":   {"120-130/s", 130},
	"update": {"420-450/s", 450},
}

// mutatingP99 is the target p99 of creates and updates at 32 clients.
const mutatingP99 = 50 * time.Millisecond

var labels = map[string]string{
	"etcd":   "raw etcd put (%d B values, ceiling)",
	"create": "pod create",
	"get":    "pod get",
	"list":   "list of %d pods",
	"update": "pod update (label, current RV)",
	"watch":  "watch delivery (%d watchers)",
}

// machine describes where the benchmark ran.
type machine struct {
	load0, load1 string
}

func (b *bench) label(phase string) string {
	switch phase {
	case "etcd":
		return fmt.Sprintf(labels[phase], b.cfg.valueSize)
	case "list":
		return fmt.Sprintf(labels[phase], b.cfg.objects)
	case "watch":
		return fmt.Sprintf(labels[phase], b.cfg.watchers)
	}
	return labels[phase]
}

// target returns the targets of a phase, each marked met or missed:
// twice upstream's rate, for creates half the raw etcd put rate, and for
// writes a p99 within mutatingP99.
func (b *bench) target(r result) string {
	up, ok := upstream[r.phase]
	if !ok {
		return "—"
	}
	var checks []string
	check := func(text string, met bool) {
		mark := " ❌"
		if met {
			mark = " ✅"
		}
		checks = append(checks, text+mark)
	}
	check(fmt.Sprintf("≥ %s/s (2× upstream)", thousands(2*up.rate)), r.rate() >= 2*up.rate)
	if r.phase == "create" {
		for _, e := range b.results {
			if e.phase == "etcd" {
				check(fmt.Sprintf("≥ %s/s (50%% of etcd put)", thousands(e.rate()/2)), r.rate() >= e.rate()/2)
			}
		}
	}
	if r.phase == "create" || r.phase == "update" {
		check("p99 ≤ 50 ms", r.percentile(0.99) <= mutatingP99)
	}
	return strings.Join(checks, "; ")
}

// report prints the table, the notes and the machine.
func (b *bench) report(out io.Writer, m machine) {
	c := b.cfg
	transport := "one transport (TLS connection) per client"
	if c.sharedTransport {
		transport = "one shared transport"
	}
	encoding := "client-go's default encoding (JSON request bodies; protobuf responses and watch streams)"
	if c.protobuf {
		encoding = "protobuf request bodies, responses and watch streams"
	}
	components := "API server and embedded etcd only"
	if c.components {
		components = "API server, embedded etcd, controller-manager and scheduler"
	}
	fmt.Fprintf(out, "\n%d clients, %s per phase, client-go QPS unlimited, %s, %s; %s, fsync on\n\n",
		c.clients, c.duration, transport, encoding, components)
	fmt.Fprintln(out, "| operation | ops/s | p50 | p99 | target | upstream |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---|---|")
	for _, r := range b.results {
		up := "—"
		if u, ok := upstream[r.phase]; ok {
			up = u.text
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s |\n", b.label(r.phase), thousands(r.rate()),
			ms(r.percentile(0.50)), ms(r.percentile(0.99)), b.target(r), up)
	}
	fmt.Fprintln(out)
	for _, r := range b.results {
		notes := append([]string{r.cpu.String()}, r.notes...)
		if r.errors > 0 {
			notes = append(notes, fmt.Sprintf("%d errors, first: %v", r.errors, r.err))
		}
		if len(notes) > 0 {
			fmt.Fprintf(out, "- %s: %s\n", r.phase, strings.Join(notes, "; "))
		}
	}
	rss, hwm := memory()
	fmt.Fprintf(out, "- process RSS at the end: %s (peak %s), server and clients together\n", rss, hwm)
	fmt.Fprintf(out, "- machine: %d CPUs (nproc), %s, %s; load average before %s, after %s\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), m.load0, m.load1)
}

// ms formats a latency in milliseconds.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	if f < 10 {
		return fmt.Sprintf("%.1f ms", f)
	}
	return fmt.Sprintf("%.0f ms", f)
}

// thousands formats a rate as an integer with thousands separators.
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// memory returns this process's resident and peak resident set sizes.
func memory() (rss, peak string) {
	rss, peak = "?", "?"
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, _ := strings.Cut(s.Text(), ":")
		v = strings.TrimSpace(v)
		var kb int
		if _, err := fmt.Sscanf(v, "%d kB", &kb); err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = fmt.Sprintf("%d MB", kb/1024)
		case "VmHWM":
			peak = fmt.Sprintf("%d MB", kb/1024)
		}
	}
	return
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// cpuSnap is a point-in-time reading of CPU time used by this process and
// by the whole machine, so that each phase can report what it cost and how
// busy the other tenants of a shared machine kept the cores.
type cpuSnap struct {
	at      time.Time
	self    time.Duration
	machine time.Duration // busy time of all cores (user+nice+system+irq+softirq+steal)
}

func snapCPU() cpuSnap {
	s := cpuSnap{at: time.Now()}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	var ticks uint64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait, guest, guest_nice
			continue
		}
		var n uint64
		fmt.Sscan(v, &n)
		ticks += n
	}
	s.machine = time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	return s
}

// cpuUsage is what a phase cost in CPU.
type cpuUsage struct {
	selfCores, otherCores float64
	perOp                 time.Duration
}

func usage(from, to cpuSnap, ops int) cpuUsage {
	wall := to.at.Sub(from.at).Seconds()
	if wall <= 0 {
		return cpuUsage{}
	}
	self := to.self - from.self
	u := cpuUsage{selfCores: self.Seconds() / wall, otherCores: (to.machine - from.machine - self).Seconds() / wall}
	if u.otherCores < 0 {
		u.otherCores = 0
	}
	if ops > 0 {
		u.perOp = self / time.Duration(ops)
	}
	return u
}

func (u cpuUsage) String() string {
	return fmt.Sprintf("%s CPU/op, this process %.2f cores, other processes %.2f cores", us(u.perOp), u.selfCores, u.otherCores)
}

// us formats a duration in microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }
