package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/apiserver/authz"
	"github.com/kubelab/kubelab/components/apiserver/endpoints"
)

// chunked hides a reader's length so that the client sends it chunked.
func chunked(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }

func TestRequestBodyLimit(t *testing.T) {
	var reached, sawLength atomic.Int64
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		sawLength.Store(r.ContentLength)
		data, err := io.ReadAll(r.Body) // as a decoder would
		if err != nil {
			endpoints.WriteError(w, r, fmt.Errorf("decode body: %w", err))
			return
		}
		fmt.Fprint(w, len(data))
	})
	const small = 1024
	tests := []struct {
		name        string
		limit       int64
		body        io.Reader
		wantCode    int
		wantMessage string
		wantReached bool // the API handler saw the request
		wantChunked bool
	}{
		{name: "content-length over the limit", limit: small, body: strings.NewReader(strings.Repeat("x", small+1)),
			wantCode: 413, wantMessage: "request entity too large: limit is 1024"},
		{name: "chunked over the limit", limit: small, body: chunked(strings.Repeat("x", 5*small)),
			wantCode: 413, wantMessage: "request entity too large: limit is 1024", wantReached: true, wantChunked: true},
		{name: "content-length at the limit", limit: small, body: strings.NewReader(strings.Repeat("x", small)),
			wantCode: 200, wantReached: true},
		{name: "chunked at the limit", limit: small, body: chunked(strings.Repeat("x", small)),
			wantCode: 200, wantReached: true, wantChunked: true},
		{name: "default limit, content-length", body: strings.NewReader(strings.Repeat("x", 3<<20+1)),
			wantCode: 413, wantMessage: "request entity too large: limit is 3145728"},
		{name: "default limit, chunked", body: chunked(strings.Repeat("x", 3<<20+1)),
			wantCode: 413, wantMessage: "request entity too large: limit is 3145728", wantReached: true, wantChunked: true},
		{name: "no limit", limit: -1, body: chunked(strings.Repeat("x", 3<<20+1)),
			wantCode: 200, wantReached: true, wantChunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached.Store(0)
			cfg, _ := testConfig(t, api)
			cfg.MaxRequestBodyBytes = tt.limit
			_, ts := startHTTP(t, cfg)
			resp, body := request(t, ts.Client(), ts.URL, "POST", "/api/v1/namespaces/default/configmaps", adminToken, tt.body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("code %d, want %d: %s", resp.StatusCode, tt.wantCode, body)
			}
			if tt.wantCode == 413 {
				checkStatus(t, body, 413, metav1.StatusReasonRequestEntityTooLarge, tt.wantMessage)
			}
			if got := reached.Load() == 1; got != tt.wantReached {
				t.Errorf("API reached: %v, want %v", got, tt.wantReached)
			}
			if tt.wantReached && (sawLength.Load() == -1) != tt.wantChunked {
				t.Errorf("API saw Content-Length %d; want chunked: %v", sawLength.Load(), tt.wantChunked)
			}
		})
	}
}

func TestMaxInFlight(t *testing.T) {
	entered := make(chan string)
	release := make(chan struct{})
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("block") == "true" {
			entered <- r.Method
			<-release
		}
		fmt.Fprint(w, "ok")
	})
	cfg, _ := testConfig(t, api)
	cfg.MaxRequestsInFlight, cfg.MaxMutatingRequestsInFlight = 1, 1
	_, ts := startHTTP(t, cfg)
	c := ts.Client()
	const pods = "/api/v1/namespaces/default/pods"

	// Fill both pools; the blocked requests finish when release closes.
	blocked := make(chan int, 2)
	for _, method := range []string{"GET", "POST"} {
		go func() {
			req, _ := http.NewRequestWithContext(t.Context(), method, ts.URL+pods+"?block=true", nil)
			req.Header.Set("Authorization", "Bearer "+bobToken)
			resp, err := c.Do(req)
			if err != nil {
				blocked <- 0
				return
			}
			resp.Body.Close()
			blocked <- resp.StatusCode
		}()
		<-entered
	}

	tests := []struct {
		name, method, path, token string
		wantCode                  int
	}{
		{name: "read-only over the limit", method: "GET", path: pods, token: bobToken, wantCode: 429},
		{name: "get over the limit", method: "GET", path: pods + "/p1", token: bobToken, wantCode: 429},
		{name: "mutating over the limit", method: "POST", path: pods, token: bobToken, wantCode: 429},
		{name: "delete over the limit", method: "DELETE", path: pods + "/p1", token: bobToken, wantCode: 429},
		{name: "non-resource over the limit", method: "GET", path: "/apis", token: bobToken, wantCode: 429},
		{name: "watch is not counted", method: "GET", path: pods + "?watch=true", token: bobToken, wantCode: 200},
		{name: "watch path is not counted", method: "GET", path: "/api/v1/watch/namespaces/default/pods", token: bobToken, wantCode: 200},
		{name: "exec is not counted", method: "POST", path: pods + "/p1/exec", token: bobToken, wantCode: 200},
		{name: "health is not counted", method: "GET", path: "/readyz", wantCode: 200},
		{name: "masters are served anyway", method: "GET", path: pods, token: adminToken, wantCode: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := request(t, c, ts.URL, tt.method, tt.path, tt.token, nil)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("code %d, want %d: %s", resp.StatusCode, tt.wantCode, body)
			}
			if tt.wantCode == 429 {
				checkStatus(t, body, 429, metav1.StatusReasonTooManyRequests, "Too many requests")
				if got := resp.Header.Get("Retry-After"); got != "1" {
					t.Errorf("Retry-After %q, want 1", got)
				}
			}
		})
	}

	_, metricsText := request(t, c, ts.URL, "GET", "/metrics", adminToken, nil)
	for _, want := range []string{
		`apiserver_current_inflight_requests{request_kind="mutating"} 1`,
		`apiserver_current_inflight_requests{request_kind="readOnly"} 1`,
		`apiserver_request_total{code="429",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 1`,
		`apiserver_request_total{code="429",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 1`,
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	close(release)
	for range 2 {
		if code := <-blocked; code != 200 {
			t.Errorf("blocked request got %d, want 200", code)
		}
	}
	resp, body := request(t, c, ts.URL, "GET", pods, bobToken, nil)
	if resp.StatusCode != 200 {
		t.Errorf("after release: code %d: %s", resp.StatusCode, body)
	}
}

func TestRequestTimeout(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("mode") {
		case "stuck": // waits for its context, then writes too late
			<-r.Context().Done()
			_, err := io.WriteString(w, "late")
			if !errors.Is(err, http.ErrHandlerTimeout) {
				t.Errorf("late write: %v, want ErrHandlerTimeout", err)
			}
		case "slow": // outlives the timeout, then answers
			time.Sleep(300 * time.Millisecond)
			fmt.Fprint(w, "slow")
		default:
			fmt.Fprint(w, "ok")
		}
	})
	tests := []struct {
		name     string
		timeout  time.Duration
		path     string
		wantCode int
		wantBody string
		maxTime  time.Duration
	}{
		{name: "stuck request times out", timeout: 100 * time.Millisecond, path: "/api/v1/namespaces/default/pods?mode=stuck", wantCode: 504},
		{name: "shorter timeout in the URL", timeout: time.Minute, path: "/api/v1/pods?mode=stuck&timeout=50ms", wantCode: 504, maxTime: 10 * time.Second},
		{name: "longer timeout in the URL is capped", timeout: 100 * time.Millisecond, path: "/api/v1/pods?mode=stuck&timeout=1h", wantCode: 504, maxTime: 10 * time.Second},
		{name: "invalid timeout", timeout: time.Minute, path: "/api/v1/pods?timeout=soon", wantCode: 400},
		{name: "fast request", timeout: 100 * time.Millisecond, path: "/api/v1/pods", wantCode: 200, wantBody: "ok"},
		{name: "watch is not timed out", timeout: 100 * time.Millisecond, path: "/api/v1/pods?watch=true&mode=slow", wantCode: 200, wantBody: "slow"},
		{name: "log is not timed out", timeout: 100 * time.Millisecond, path: "/api/v1/namespaces/default/pods/p1/log?mode=slow", wantCode: 200, wantBody: "slow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := testConfig(t, api)
			cfg.RequestTimeout = tt.timeout
			_, ts := startHTTP(t, cfg)
			start := time.Now()
			resp, body := request(t, ts.Client(), ts.URL, "GET", tt.path, adminToken, nil)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("code %d, want %d: %s", resp.StatusCode, tt.wantCode, body)
			}
			switch tt.wantCode {
			case 504:
				checkStatus(t, body, 504, metav1.StatusReasonTimeout, "request did not complete within requested timeout")
			case 400:
				checkStatus(t, body, 400, metav1.StatusReasonBadRequest, "invalid timeout")
			default:
				if body != tt.wantBody {
					t.Errorf("body %q, want %q", body, tt.wantBody)
				}
			}
			if tt.maxTime > 0 && time.Since(start) > tt.maxTime {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}

	t.Run("response already begun", func(t *testing.T) {
		api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "partial")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			if _, err := fmt.Fprint(w, "rest"); !errors.Is(err, http.ErrHandlerTimeout) {
				t.Errorf("write after the timeout: %v, want ErrHandlerTimeout", err)
			}
		})
		cfg, _ := testConfig(t, api)
		cfg.RequestTimeout = 50 * time.Millisecond
		_, ts := startHTTP(t, cfg)
		req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/api/v1/pods", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Error("a response cut off by the timeout read as complete")
		}
	})
}

func TestPanicRecovery(t *testing.T) {
	const secret = "secret-internal-detail-42"
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("after") == "header" {
			fmt.Fprint(w, "partial")
			w.(http.Flusher).Flush()
		}
		panic(secret)
	})
	tests := []struct {
		name, path string
		wantAbort  bool
	}{
		{name: "request", path: "/api/v1/namespaces/default/pods"},
		{name: "watch", path: "/api/v1/namespaces/default/pods?watch=true"},
		{name: "after the header", path: "/api/v1/namespaces/default/pods?after=header", wantAbort: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, logs := testConfig(t, api)
			_, ts := startHTTP(t, cfg)
			req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+tt.path, nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tt.wantAbort {
				if err == nil {
					t.Errorf("response read as complete after a panic: %q", body)
				}
			} else {
				if resp.StatusCode != 500 {
					t.Fatalf("code %d, want 500", resp.StatusCode)
				}
				checkStatus(t, string(body), 500, metav1.StatusReasonInternalError, panicMessage)
				if strings.Contains(string(body), secret) {
					t.Errorf("response reveals the panic: %s", body)
				}
			}
			eventually(t, "the access log line", func() bool { return strings.Contains(logs.String(), "msg=HTTP") })
			for _, want := range []string{"panic serving request", secret, "TestPanicRecovery.func1", "level=WARN msg=HTTP"} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logs)
				}
			}
		})
	}
}

func TestAuthorizerError(t *testing.T) {
	cfg, logs := testConfig(t, okAPI)
	cfg.Authorizer = authz.AuthorizerFunc(func(context.Context, authz.Attributes) (authz.Decision, string, error) {
		return authz.DecisionNoOpinion, "", errors.New("webhook unreachable at 10.0.0.1")
	})
	_, ts := startHTTP(t, cfg)
	resp, body := request(t, ts.Client(), ts.URL, "GET", "/api/v1/pods", adminToken, nil)
	if resp.StatusCode != 500 {
		t.Fatalf("code %d, want 500: %s", resp.StatusCode, body)
	}
	checkStatus(t, body, 500, metav1.StatusReasonInternalError, "could not authorize")
	if strings.Contains(body, "10.0.0.1") {
		t.Errorf("response reveals the error: %s", body)
	}
	if !strings.Contains(logs.String(), "webhook unreachable") {
		t.Errorf("log lacks the authorizer's error:\n%s", logs)
	}
}

func TestRequestKindAndLongRunning(t *testing.T) {
	tests := []struct {
		method, path    string
		wantKind        string
		wantLongRunning bool
	}{
		{method: "GET", path: "/api/v1/namespaces/default/pods", wantKind: kindReadOnly},
		{method: "GET", path: "/api/v1/namespaces/default/pods?watch=1", wantKind: kindReadOnly, wantLongRunning: true},
		{method: "GET", path: "/api/v1/namespaces/default/pods?watch=false", wantKind: kindReadOnly},
		{method: "GET", path: "/api/v1/namespaces/default/pods/p1?watch=true", wantKind: kindReadOnly, wantLongRunning: true},
		{method: "GET", path: "/api/v1/watch/pods", wantKind: kindReadOnly, wantLongRunning: true},
		{method: "GET", path: "/api/v1/namespaces/default/pods/p1/log", wantKind: kindReadOnly, wantLongRunning: true},
		{method: "POST", path: "/api/v1/namespaces/default/pods/p1/exec", wantKind: kindMutating, wantLongRunning: true},
		{method: "POST", path: "/api/v1/namespaces/default/pods/p1/portforward", wantKind: kindMutating, wantLongRunning: true},
		{method: "POST", path: "/api/v1/namespaces/default/pods", wantKind: kindMutating},
		{method: "PUT", path: "/api/v1/namespaces/default/pods/p1", wantKind: kindMutating},
		{method: "PATCH", path: "/api/v1/namespaces/default/pods/p1", wantKind: kindMutating},
		{method: "DELETE", path: "/api/v1/namespaces/default/pods", wantKind: kindMutating},
		{method: "GET", path: "/apis", wantKind: kindReadOnly},
		{method: "POST", path: "/some/path", wantKind: kindMutating},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r, _ := http.NewRequest(tt.method, tt.path, nil)
			info := endpoints.ParseRequestInfo(r)
			if got := requestKind(info); got != tt.wantKind {
				t.Errorf("kind %s, want %s", got, tt.wantKind)
			}
			if got := isLongRunning(r, info); got != tt.wantLongRunning {
				t.Errorf("long-running %v, want %v", got, tt.wantLongRunning)
			}
		})
	}
}

func TestLimitedBody(t *testing.T) {
	for _, size := range []int{0, 1, 9, 10, 11, 100} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			b := &limitedBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("x", size))), remaining: 10, limit: 10}
			data, err := io.ReadAll(b)
			if size <= 10 && (err != nil || len(data) != size) {
				t.Errorf("read %d bytes, %v; want %d", len(data), err, size)
			}
			if size > 10 && (err == nil || len(data) != 10 || err.Error() != "request entity too large: limit is 10") {
				t.Errorf("read %d bytes, %v; want 10 and too large", len(data), err)
			}
		})
	}
}
