package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
	"github.com/kubelab/kubelab/components/proxy"
	"github.com/kubelab/kubelab/components/proxy/internal/netnstest"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"cluster CIDRs", []string{"--cluster-cidr=10.244.0.0/16, fd00::/48"}, ""},
		{"bad cluster CIDR", []string{"--cluster-cidr=10.244.0.0/16,bogus"}, "--cluster-cidr"},
		{"zero sync period", []string{"--sync-period=0"}, "--sync-period"},
		{"min above sync", []string{"--sync-period=1s", "--min-sync-period=2s"}, "--min-sync-period"},
		{"negative min", []string{"--min-sync-period=-1s"}, "--min-sync-period"},
		{"bad healthz address", []string{"--healthz-bind-address=10256"}, "--healthz-bind-address"},
		{"bad metrics address", []string{"--metrics-bind-address=localhost"}, "--metrics-bind-address"},
		{"servers off", []string{"--metrics-bind-address=", "--healthz-bind-address="}, ""},
		{"bridge name too long", []string{"--pod-bridge=abcdefghijklmnopq"}, "--pod-bridge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOptions()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := o.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
	o := NewOptions()
	o.ClusterCIDR = "10.244.1.7/16"
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := o.ProxyOptions("n", nil).ClusterCIDRs; len(got) != 1 || got[0].String() != "10.244.0.0/16" {
		t.Errorf("cluster CIDRs %v", got)
	}
}

func TestNodeName(t *testing.T) {
	o := NewOptions()
	t.Setenv("NODE_NAME", "Kind-Worker")
	if got, _ := o.NodeName(); got != "kind-worker" {
		t.Errorf("from $NODE_NAME: %q", got)
	}
	o.HostnameOverride = "override"
	if got, _ := o.NodeName(); got != "override" {
		t.Errorf("override: %q", got)
	}
	o.HostnameOverride = ""
	t.Setenv("NODE_NAME", "")
	h, _ := os.Hostname()
	if got, _ := o.NodeName(); got != strings.ToLower(h) {
		t.Errorf("hostname: %q, want %q", got, h)
	}
}

func TestCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--no-such-flag"}, {"--cluster-cidr=nope"}, {"--sync-period=soon"}, {"extra-arg"}} {
		cmd := NewCommand(t.Context())
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestHealthz(t *testing.T) {
	var last time.Time
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := healthMux(func() time.Time { return last }, 30*time.Second, func() time.Time { return now })
	get := func(path string) (int, healthStatus) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var st healthStatus
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
		return rec.Code, st
	}
	if code, st := get("/healthz"); code != http.StatusServiceUnavailable || st.CurrentTime != "2026-01-02T03:04:05Z" {
		t.Errorf("before the first sync: %d %+v, want 503", code, st)
	}
	last = now.Add(-time.Minute)
	if code, st := get("/healthz"); code != http.StatusOK || st.LastUpdated != "2026-01-02T03:03:05Z" {
		t.Errorf("synced within 2x sync period: %d %+v, want 200", code, st)
	}
	if code, _ := get("/livez"); code != http.StatusOK {
		t.Errorf("/livez %d", code)
	}
	last = now.Add(-61 * time.Second)
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("last sync older than 2x sync period: %d, want 503", code)
	}
}

// requireNetNS skips without root and iproute2, and returns a new
// network namespace's path.
func requireNetNS(t *testing.T) string {
	t.Helper()
	netnstest.Require(t)
	return netnstest.Add(t, fmt.Sprintf("kpt-app-%d-%d", os.Getpid(), time.Now().UnixNano()))
}

// hasTable reports whether the namespace has our IPv4 table.
func hasTable(t *testing.T, path string) bool {
	t.Helper()
	c := netnstest.NFTables(t, path)
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Skipf("no nf_tables: %v", err)
	}
	for _, tb := range tables {
		if tb.Name == proxy.TableName {
			return true
		}
	}
	return false
}

// TestCleanup runs --cleanup on a thread inside a namespace holding our
// table, as the binary would run in the node's namespace.
func TestCleanup(t *testing.T) {
	path := requireNetNS(t)
	c := netnstest.NFTables(t, path)
	table := c.AddTable(&nftables.Table{Name: proxy.TableName, Family: nftables.TableFamilyIPv4})
	c.AddChain(&nftables.Chain{Name: proxy.ChainServices, Table: table})
	if err := c.Flush(); err != nil {
		t.Skipf("no nf_tables: %v", err)
	}
	if !hasTable(t, path) {
		t.Fatal("table not created")
	}
	err := netnstest.Do(path, func() error {
		cmd := NewCommand(context.Background())
		cmd.SetArgs([]string{"--cleanup"})
		return cmd.Execute()
	})
	if err != nil {
		t.Fatalf("--cleanup: %v", err)
	}
	if hasTable(t, path) {
		t.Fatal("--cleanup left the table")
	}
}

// clusterIPs lists the kernel's cluster-ips set in the namespace.
func clusterIPs(t *testing.T, path string) []string {
	t.Helper()
	c := netnstest.NFTables(t, path)
	set, err := c.GetSetByName(&nftables.Table{Name: proxy.TableName, Family: nftables.TableFamilyIPv4}, proxy.SetClusterIPs)
	if err != nil {
		t.Fatal(err)
	}
	elems, err := c.GetSetElements(set)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range elems {
		out = append(out, net.IP(e.Key).String())
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestCommandSyncs runs the command against a control plane, programming
// a throwaway namespace, and checks rules, /healthz and /metrics.
func TestCommandSyncs(t *testing.T) {
	path := requireNetNS(t)
	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers, o.NoScheduler = []string{}, true })
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	svc, err := cp.Client.CoreV1().Services("default").Create(t.Context(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	healthz, metrics := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	cmd := NewCommand(ctx)
	cmd.SetArgs([]string{"--kubeconfig", cp.Kubeconfig, "--network-namespace", path, "--cluster-cidr", "10.244.0.0/16",
		"--healthz-bind-address", healthz, "--metrics-bind-address", metrics, "--hostname-override", "node-1"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("command: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("command did not stop")
		}
	}()

	deadline := time.Now().Add(30 * time.Second)
	var code int
	for {
		resp, err := http.Get("http://" + healthz + "/healthz")
		if err == nil {
			code = resp.StatusCode
			resp.Body.Close()
			if code == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never 200: %d %v", code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !hasTable(t, path) {
		t.Fatal("no kube-proxy table in the namespace after a sync")
	}
	if got := clusterIPs(t, path); !slices.Contains(got, svc.Spec.ClusterIP) {
		t.Errorf("cluster-ips set %v lacks the service's %s", got, svc.Spec.ClusterIP)
	}
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"kubeproxy_sync_proxy_rules_duration_seconds_count", "kubeproxy_sync_proxy_rules_last_timestamp_seconds", "go_goroutines"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}
