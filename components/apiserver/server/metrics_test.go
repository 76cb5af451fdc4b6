package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubelab/kubelab/components/apiserver/endpoints"
)

func TestRequestLabels(t *testing.T) {
	cfg, _ := testConfig(t, okAPI)
	cfg.ReadyChecks = map[string]func(context.Context) error{"etcd": func(context.Context) error { return nil }}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const pods = "/api/v1/namespaces/default/pods"
	tests := []struct {
		name, method, path string
		header             string // Content-Type
		unauthenticated    bool
		code               int
		// verb, dry_run, group, version, resource, subresource, scope
		want []string
	}{
		{name: "list", method: "GET", path: pods, want: []string{"LIST", "", "", "v1", "pods", "", "namespace"}},
		{name: "list all namespaces", method: "GET", path: "/api/v1/pods", want: []string{"LIST", "", "", "v1", "pods", "", "cluster"}},
		{name: "get", method: "GET", path: pods + "/p1", want: []string{"GET", "", "", "v1", "pods", "", "resource"}},
		{name: "head", method: "HEAD", path: pods + "/p1", want: []string{"GET", "", "", "v1", "pods", "", "resource"}},
		{name: "get cluster-scoped", method: "GET", path: "/api/v1/nodes/n1", want: []string{"GET", "", "", "v1", "nodes", "", "resource"}},
		{name: "watch", method: "GET", path: pods + "?watch=true", want: []string{"WATCH", "", "", "v1", "pods", "", "namespace"}},
		{name: "watch path", method: "GET", path: "/api/v1/watch/namespaces/default/pods", want: []string{"WATCH", "", "", "v1", "pods", "", "namespace"}},
		{name: "create", method: "POST", path: "/apis/apps/v1/namespaces/default/deployments",
			want: []string{"POST", "", "apps", "v1", "deployments", "", "resource"}},
		{name: "create dry run", method: "POST", path: "/apis/apps/v1/namespaces/default/deployments?dryRun=All",
			want: []string{"POST", "All", "apps", "v1", "deployments", "", "resource"}},
		{name: "invalid dry run", method: "POST", path: pods + "?dryRun=Some",
			want: []string{"POST", "invalid", "", "v1", "pods", "", "resource"}},
		{name: "update status", method: "PUT", path: pods + "/p1/status", want: []string{"PUT", "", "", "v1", "pods", "status", "resource"}},
		{name: "merge patch", method: "PATCH", path: pods + "/p1", header: "application/merge-patch+json",
			want: []string{"PATCH", "", "", "v1", "pods", "", "resource"}},
		{name: "apply", method: "PATCH", path: pods + "/p1", header: "application/apply-patch+yaml",
			want: []string{"APPLY", "", "", "v1", "pods", "", "resource"}},
		{name: "delete", method: "DELETE", path: pods + "/p1", want: []string{"DELETE", "", "", "v1", "pods", "", "resource"}},
		{name: "delete collection", method: "DELETE", path: pods, want: []string{"DELETE", "", "", "v1", "pods", "", "namespace"}},
		{name: "exec", method: "POST", path: pods + "/p1/exec", want: []string{"CONNECT", "", "", "v1", "pods", "exec", "resource"}},
		{name: "log", method: "GET", path: pods + "/p1/log", want: []string{"CONNECT", "", "", "v1", "pods", "log", "resource"}},
		{name: "healthz", method: "GET", path: "/healthz", want: []string{"GET", "", "", "", "", "/healthz", ""}},
		{name: "known check", method: "GET", path: "/readyz/etcd", code: 500, want: []string{"GET", "", "", "", "", "/readyz/etcd", ""}},
		{name: "unknown check", method: "GET", path: "/readyz/nope", code: 404, want: []string{"GET", "", "", "", "", "", ""}},
		{name: "discovery", method: "GET", path: "/apis/apps/v1", want: []string{"GET", "", "", "", "", "/apis/apps/v1", ""}},
		{name: "unknown path", method: "GET", path: "/no/such/path", code: 404, want: []string{"GET", "", "", "", "", "", ""}},
		{name: "unauthenticated", method: "GET", path: pods, unauthenticated: true, code: 401,
			want: []string{"GET", "", "", "", "", "", ""}},
		{name: "unauthenticated unknown path", method: "GET", path: "/x/y", unauthenticated: true, code: 401,
			want: []string{"GET", "", "", "", "", "", ""}},
		{name: "odd method", method: "OPTIONS", path: "/api", want: []string{"other", "", "", "", "", "/api", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.header != "" {
				r.Header.Set("Content-Type", tt.header)
			}
			st := &requestState{info: endpoints.ParseRequestInfo(r), authenticated: !tt.unauthenticated}
			code := tt.code
			if code == 0 {
				code = 200
			}
			got := s.requestLabels(r, st, code)
			want := append(slices.Clone(tt.want), component)
			if !slices.Equal(got, want) {
				t.Errorf("labels %q, want %q", got, want)
			}
		})
	}
}

func TestMetricsEndpoint(t *testing.T) {
	cfg, _ := testConfig(t, okAPI)
	_, ts := startHTTP(t, cfg)
	c := ts.Client()
	request(t, c, ts.URL, "GET", "/api/v1/namespaces/default/pods", adminToken, nil)
	request(t, c, ts.URL, "GET", "/api/v1/namespaces/default/pods", "", nil) // 401
	request(t, c, ts.URL, "GET", "/readyz", "", nil)

	resp, text := request(t, c, ts.URL, "GET", "/metrics", adminToken, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("code %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 1`,
		`apiserver_request_total{code="401",component="apiserver",dry_run="",group="",resource="",scope="",subresource="",verb="GET",version=""} 1`,
		`apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="",scope="",subresource="/readyz",verb="GET",version=""} 1`,
		`apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1",le="0.005"}`,
		`apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1",le="60"} 1`,
		`apiserver_current_inflight_requests{request_kind="mutating"} 0`,
		`apiserver_current_inflight_requests{request_kind="readOnly"} 1`, // the scrape itself
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	var servers []*Server
	for range 2 {
		cfg, _ := testConfig(t, okAPI)
		cfg.Registry = reg
		s, err := New(cfg)
		if err != nil {
			t.Fatalf("New on a shared registry: %v", err)
		}
		servers = append(servers, s)
	}
	for _, s := range servers {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "apiserver_request_total" {
			if n := f.GetMetric()[0].GetCounter().GetValue(); n != 2 {
				t.Errorf("shared counter %v, want 2", n)
			}
			return
		}
	}
	t.Error("apiserver_request_total not registered")
}
