package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestHealthEndpoints(t *testing.T) {
	var etcdDown atomic.Bool
	cfg, logs := testConfig(t, okAPI)
	cfg.ReadyChecks = map[string]func(context.Context) error{
		"etcd": func(context.Context) error {
			if etcdDown.Load() {
				return errors.New("etcd down: context deadline exceeded")
			}
			return nil
		},
		"informer-sync": func(context.Context) error { return nil },
	}
	_, ts := startHTTP(t, cfg)

	tests := []struct {
		name      string
		etcdDown  bool
		method    string
		path      string
		token     string
		wantCode  int
		wantBody  string
		wantState metav1.StatusReason // for a Status body
	}{
		{name: "healthz", path: "/healthz", wantCode: 200, wantBody: "ok"},
		{name: "livez", path: "/livez", wantCode: 200, wantBody: "ok"},
		{name: "readyz", path: "/readyz", wantCode: 200, wantBody: "ok"},
		{name: "readyz trailing slash", path: "/readyz/", wantCode: 200, wantBody: "ok"},
		{name: "readyz verbose", path: "/readyz?verbose", wantCode: 200,
			wantBody: "[+]ping ok\n[+]etcd ok\n[+]informer-sync ok\n[+]shutdown ok\nreadyz check passed\n"},
		{name: "livez verbose", path: "/livez?verbose=true", wantCode: 200, wantBody: "[+]ping ok\nlivez check passed\n"},
		{name: "one check", path: "/readyz/etcd", wantCode: 200, wantBody: "ok"},
		{name: "ping", path: "/livez/ping", wantCode: 200, wantBody: "ok"},
		{name: "unknown check", path: "/readyz/nope", wantCode: 404},
		{name: "livez has no etcd check", path: "/livez/etcd", wantCode: 404},
		{name: "exclude unknown", path: "/readyz?verbose&exclude=nope", wantCode: 200,
			wantBody: "[+]ping ok\n[+]etcd ok\n[+]informer-sync ok\n[+]shutdown ok\n" +
				"warn: some health checks cannot be excluded: no matches for [\"nope\"]\nreadyz check passed\n"},
		{name: "HEAD", method: "HEAD", path: "/readyz", wantCode: 200},
		{name: "POST", method: "POST", path: "/healthz", token: adminToken, wantCode: 405, wantState: metav1.StatusReasonMethodNotAllowed},

		{name: "readyz failing", etcdDown: true, path: "/readyz", wantCode: 500,
			wantBody: "[+]ping ok\n[-]etcd failed: reason withheld\n[+]informer-sync ok\n[+]shutdown ok\nreadyz check failed\n"},
		{name: "healthz failing", etcdDown: true, path: "/healthz", wantCode: 500,
			wantBody: "[+]ping ok\n[-]etcd failed: reason withheld\n[+]informer-sync ok\nhealthz check failed\n"},
		{name: "failing check alone", etcdDown: true, path: "/readyz/etcd", wantCode: 500,
			wantBody: "internal server error: etcd down: context deadline exceeded\n"},
		{name: "livez unaffected", etcdDown: true, path: "/livez", wantCode: 200, wantBody: "ok"},
		{name: "failing check excluded", etcdDown: true, path: "/readyz?exclude=etcd", wantCode: 200, wantBody: "ok"},
		{name: "failing check excluded verbose", etcdDown: true, path: "/readyz?exclude=etcd&verbose", wantCode: 200,
			wantBody: "[+]ping ok\n[+]etcd excluded: ok\n[+]informer-sync ok\n[+]shutdown ok\nreadyz check passed\n"},
		{name: "other checks still pass", etcdDown: true, path: "/readyz/informer-sync", wantCode: 200, wantBody: "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			etcdDown.Store(tt.etcdDown)
			method := tt.method
			if method == "" {
				method = "GET"
			}
			resp, body := request(t, ts.Client(), ts.URL, method, tt.path, tt.token, nil)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("code %d, want %d: %q", resp.StatusCode, tt.wantCode, body)
			}
			if tt.wantState != "" {
				checkStatus(t, body, int32(tt.wantCode), tt.wantState, "")
				return
			}
			if tt.wantBody != "" && body != tt.wantBody {
				t.Errorf("body\n%q\nwant\n%q", body, tt.wantBody)
			}
		})
	}
	// The reason withheld from the client is in the log.
	if want := "etcd down: context deadline exceeded"; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q", want)
	}
}

func TestReadyzDuringShutdown(t *testing.T) {
	cfg, _ := testConfig(t, okAPI)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.shuttingDown.Store(true)
	for path, want := range map[string]int{"/readyz": 500, "/readyz/shutdown": 500, "/livez": 200, "/healthz": 200} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("%s: code %d, want %d: %s", path, rec.Code, want, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz/shutdown", nil))
	if got, want := rec.Body.String(), "internal server error: process is shutting down\n"; got != want {
		t.Errorf("/readyz/shutdown: %q, want %q", got, want)
	}
}
