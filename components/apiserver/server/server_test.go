package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/kubelab/kubelab/components/apiserver/authn"
)

// whoAmI answers with the user the chain found and whether the
// Authorization header reached the API.
var whoAmI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	u, _ := authn.UserFrom(r.Context())
	fmt.Fprintf(w, "api user=%s authorization=%q", userName(u), r.Header.Get("Authorization"))
})

func TestServeTLS(t *testing.T) {
	p := newTestPKI(t)
	cfg, _ := testConfig(t, whoAmI)
	_, base, _ := p.serveTLS(t, cfg)

	anonymous := p.client(t, "")
	admin := p.client(t, "admin", "system:masters")
	alice := p.client(t, "alice", "devs")

	tests := []struct {
		name         string
		client       *http.Client
		token        string
		method, path string
		wantCode     int
		wantBody     string              // prefix of a non-Status body
		wantReason   metav1.StatusReason // for a Status body
		wantMessage  string              // for a Status body
	}{
		{name: "anonymous api", client: anonymous, method: "GET", path: "/api",
			wantCode: 401, wantReason: metav1.StatusReasonUnauthorized, wantMessage: "Unauthorized"},
		{name: "anonymous pods", client: anonymous, method: "GET", path: "/api/v1/namespaces/default/pods",
			wantCode: 401, wantReason: metav1.StatusReasonUnauthorized, wantMessage: "Unauthorized"},
		{name: "anonymous metrics", client: anonymous, method: "GET", path: "/metrics",
			wantCode: 401, wantReason: metav1.StatusReasonUnauthorized, wantMessage: "Unauthorized"},
		{name: "anonymous healthz", client: anonymous, method: "GET", path: "/healthz", wantCode: 200, wantBody: "ok"},
		{name: "anonymous livez", client: anonymous, method: "GET", path: "/livez", wantCode: 200, wantBody: "ok"},
		{name: "anonymous readyz verbose", client: anonymous, method: "GET", path: "/readyz?verbose", wantCode: 200, wantBody: "[+]ping ok"},
		{name: "anonymous version", client: anonymous, method: "GET", path: "/version", wantCode: 200, wantBody: "{"},
		{name: "invalid token on a public path", client: anonymous, token: "wrong", method: "GET", path: "/healthz",
			wantCode: 401, wantReason: metav1.StatusReasonUnauthorized, wantMessage: "Unauthorized"},
		{name: "invalid token", client: anonymous, token: "wrong", method: "GET", path: "/api",
			wantCode: 401, wantReason: metav1.StatusReasonUnauthorized, wantMessage: "Unauthorized"},
		{name: "masters certificate", client: admin, method: "GET", path: "/api/v1/namespaces/default/pods",
			wantCode: 200, wantBody: `api user=admin authorization=""`},
		{name: "masters token over TLS", client: anonymous, token: adminToken, method: "GET", path: "/api",
			wantCode: 200, wantBody: `api user=admin authorization=""`},
		{name: "masters metrics", client: admin, method: "GET", path: "/metrics", wantCode: 200, wantBody: "# HELP"},
		{name: "not a master lists pods", client: alice, method: "GET", path: "/api/v1/namespaces/default/pods",
			wantCode: 403, wantReason: metav1.StatusReasonForbidden,
			wantMessage: `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"`},
		{name: "not a master creates a deployment", client: alice, method: "POST", path: "/apis/apps/v1/namespaces/default/deployments",
			wantCode: 403, wantReason: metav1.StatusReasonForbidden,
			wantMessage: `deployments.apps is forbidden: User "alice" cannot create resource "deployments" in API group "apps" in the namespace "default"`},
		{name: "not a master reads nodes", client: alice, method: "GET", path: "/api/v1/nodes/n1",
			wantCode: 403, wantReason: metav1.StatusReasonForbidden,
			wantMessage: `nodes "n1" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope`},
		{name: "not a master scrapes metrics", client: alice, method: "GET", path: "/metrics",
			wantCode: 403, wantReason: metav1.StatusReasonForbidden,
			wantMessage: `forbidden: User "alice" cannot get path "/metrics"`},
		{name: "not a master reads version", client: alice, method: "GET", path: "/version", wantCode: 200, wantBody: "{"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := request(t, tt.client, base, tt.method, tt.path, tt.token, nil)
			if resp.ProtoMajor != 2 {
				t.Errorf("protocol %s, want HTTP/2", resp.Proto)
			}
			if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
				t.Errorf("TLS state %+v, want TLS 1.2 or newer", resp.TLS)
			}
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("code %d, want %d; body %s", resp.StatusCode, tt.wantCode, body)
			}
			if tt.wantReason != "" {
				st := status(t, body)
				if st.Reason != tt.wantReason || st.Message != tt.wantMessage || st.Code != int32(tt.wantCode) {
					t.Errorf("Status %d %q %q, want %d %q %q", st.Code, st.Reason, st.Message, tt.wantCode, tt.wantReason, tt.wantMessage)
				}
				return
			}
			if !strings.HasPrefix(body, tt.wantBody) {
				t.Errorf("body %q, want prefix %q", body, tt.wantBody)
			}
		})
	}

	t.Run("version body", func(t *testing.T) {
		_, body := request(t, anonymous, base, "GET", "/version", "", nil)
		var got version.Info
		if err := json.Unmarshal([]byte(body), &got); err != nil || got != testVersion {
			t.Errorf("version %+v (%v), want %+v", got, err, testVersion)
		}
	})
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{
			RootCAs: p.ca.Pool(), MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11,
		})
		if err == nil {
			conn.Close()
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
		if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("handshake error %v, want a protocol version alert", err)
		}
	})
}

func TestWatchFlushesEachEvent(t *testing.T) {
	next := make(chan struct{})
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"type":"ADDED"}`+"\n")
		if err := rc.Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, `{"type":"MODIFIED"}`+"\n")
		_ = rc.Flush()
		<-r.Context().Done()
	})
	p := newTestPKI(t)
	cfg, _ := testConfig(t, api)
	cfg.RequestTimeout = 50 * time.Millisecond // watches are not timed out
	_, base, _ := p.serveTLS(t, cfg)
	admin := p.client(t, "admin", "system:masters")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/namespaces/default/pods?watch=true", nil)
	resp, err := admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
	lines := bufio.NewReader(resp.Body)
	for i, want := range []string{`{"type":"ADDED"}`, `{"type":"MODIFIED"}`} {
		line, err := lines.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != want {
			t.Fatalf("event %d: %q, %v; want %s", i, line, err, want)
		}
		if i == 0 {
			time.Sleep(2 * cfg.RequestTimeout) // outlive the request timeout
			close(next)
		}
	}
	_, metricsText := request(t, admin, base, "GET", "/metrics", "", nil)
	want := `apiserver_longrunning_requests{component="apiserver",group="",resource="pods",scope="namespace",subresource="",verb="WATCH",version="v1"} 1`
	if !strings.Contains(metricsText, want) {
		t.Errorf("metrics lack %s", want)
	}
}

func TestListenAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	p := newTestPKI(t)
	cfg, _ := testConfig(t, okAPI)
	cfg.BindAddress = taken.Addr().String()
	cfg.CertFile, cfg.KeyFile = p.certFile, p.keyFile
	want := fmt.Sprintf("listen on %s: address already in use (is another API server running?)", taken.Addr())

	for name, start := range map[string]func(*Server) error{
		"Listen": (*Server).Listen,
		"Serve":  func(s *Server) error { return s.Serve(t.Context()) },
	} {
		t.Run(name, func(t *testing.T) {
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = start(s)
			if err == nil || err.Error() != want {
				t.Fatalf("error %v, want %q", err, want)
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("error %v does not wrap EADDRINUSE", err)
			}
		})
	}
}

func TestGracefulShutdown(t *testing.T) {
	var (
		entered      = make(chan struct{})
		release      = make(chan struct{})
		watchStarted = make(chan struct{})
		watchEnded   = make(chan struct{})
	)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWatchQuery(r) {
			w.WriteHeader(http.StatusOK)
			_ = http.NewResponseController(w).Flush()
			close(watchStarted)
			<-r.Context().Done()
			close(watchEnded)
			return
		}
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	p := newTestPKI(t)
	cfg, _ := testConfig(t, api)
	s, base, stop := p.serveTLS(t, cfg)
	admin := p.client(t, "admin", "system:masters")

	slow := make(chan string, 1)
	go func() {
		resp, err := admin.Get(base + "/api/v1/namespaces/default/pods")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		slow <- fmt.Sprintf("%d %s %v", resp.StatusCode, body, err)
	}()
	watchDone := make(chan error, 1)
	go func() {
		resp, err := admin.Get(base + "/api/v1/namespaces/default/pods?watch=true")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		watchDone <- err
	}()
	<-entered
	<-watchStarted

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()

	eventually(t, "/readyz to fail", func() bool {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code == http.StatusInternalServerError &&
			strings.Contains(rec.Body.String(), "[-]shutdown failed: reason withheld")
	})
	eventually(t, "the listener to close", func() bool {
		conn, err := net.Dial("tcp", s.Addr().String())
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	case <-watchEnded:
		t.Fatal("the watch ended before the in-flight request finished")
	case <-time.After(100 * time.Millisecond):
	}

	close(release)
	if got := <-slow; got != "200 done <nil>" {
		t.Errorf("in-flight request got %q, want 200 done", got)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	<-watchEnded
	<-watchDone // the watch's response ended, one way or another
}

func TestShutdownTimeout(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release // ignores its context: a stuck handler
	})
	p := newTestPKI(t)
	cfg, _ := testConfig(t, api)
	cfg.ShutdownTimeout = 200 * time.Millisecond
	_, base, stop := p.serveTLS(t, cfg)
	t.Cleanup(func() { close(release) })
	admin := p.client(t, "admin", "system:masters")
	go func() {
		if resp, err := admin.Get(base + "/api/v1/nodes"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	err := stop()
	if err == nil || !strings.Contains(err.Error(), "1 requests still running after 200ms") {
		t.Errorf("Serve returned %v, want a shutdown timeout", err)
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	cfg, _ := testConfig(t, okAPI)
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{name: "no authenticator", modify: func(c *Config) { c.Authenticator = nil }, want: "Authenticator"},
		{name: "no authorizer", modify: func(c *Config) { c.Authorizer = nil }, want: "Authorizer"},
		{name: "no api", modify: func(c *Config) { c.API = nil }, want: "API handler"},
		{name: "cert without key", modify: func(c *Config) { c.CertFile = "x.crt" }, want: "CertFile and KeyFile"},
		{name: "missing cert", modify: func(c *Config) { c.CertFile, c.KeyFile = "/nonexistent.crt", "/nonexistent.key" }, want: "load serving certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			tt.modify(&c)
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error about %s", err, tt.want)
			}
		})
	}
	t.Run("listen without certificate", func(t *testing.T) {
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "no serving certificate") {
			t.Errorf("Listen: %v", err)
		}
	})
}
