package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/kubelab/kubelab/components/apiserver/authn"
	"github.com/kubelab/kubelab/components/apiserver/authz"
	"github.com/kubelab/kubelab/components/internal/pki"
)

// Bearer tokens of the test token file.
const (
	adminToken = "admin-token" // admin in system:masters
	aliceToken = "alice-token" // alice in devs: authenticated, not authorized
	bobToken   = "bob-token"   // bob: allowed everything by allowBob, not a master
)

// testVersion is served at /version.
var testVersion = version.Info{Major: "1", Minor: "37", GitVersion: "v1.37.2-kubelab", Platform: "linux/amd64"}

// logBuffer collects a Server's log for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testConfig returns a Config around api with a token authenticator, the
// masters authorizer plus one allowing bob, and a debug logger into logs.
func testConfig(t *testing.T, api http.Handler) (Config, *logBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.csv")
	content := adminToken + ",admin,1,system:masters\n" + aliceToken + ",alice,2,devs\n" + bobToken + ",bob,3\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := authn.NewTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	return Config{
		Authenticator: authn.Union(tokens),
		Authorizer:    authz.Union(authz.NewMasters(), allowUser("bob")),
		API:           api,
		Version:       testVersion,
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, logs
}

// allowUser allows every request of the user called name.
func allowUser(name string) authz.Authorizer {
	return authz.AuthorizerFunc(func(_ context.Context, a authz.Attributes) (authz.Decision, string, error) {
		if a.User != nil && a.User.Name == name {
			return authz.DecisionAllow, "", nil
		}
		return authz.DecisionNoOpinion, "", nil
	})
}

// okAPI answers every request with 200 "api".
var okAPI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "api")
})

// startHTTP serves New(cfg).Handler() over plain HTTP/1.1.
func startHTTP(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

// request sends method path with body (nil for none) and token (""
// for none) to base, and returns the response with its body read.
func request(t *testing.T, c *http.Client, base, method, path, token string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, string(data)
}

// status decodes a metav1.Status body, failing the test if it is not one.
func status(t *testing.T, body string) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" {
		t.Fatalf("body is not a Status (%v): %s", err, body)
	}
	return st
}

// checkStatus fails unless body is a Status with code, reason and (if not
// empty) a message containing message.
func checkStatus(t *testing.T, body string, code int32, reason metav1.StatusReason, message string) {
	t.Helper()
	st := status(t, body)
	if st.Code != code || st.Reason != reason || !strings.Contains(st.Message, message) {
		t.Errorf("Status code=%d reason=%q message=%q, want %d %q containing %q", st.Code, st.Reason, st.Message, code, reason, message)
	}
}

// testPKI is a cluster CA with a serving certificate for 127.0.0.1.
type testPKI struct {
	ca                *pki.CA
	certFile, keyFile string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, "kubelab-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.LoadOrIssueServing(dir, "apiserver", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{ca: ca, certFile: certFile, keyFile: keyFile}
}

// client returns an HTTPS client trusting the CA, presenting a client
// certificate for user in groups unless user is "".
func (p *testPKI) client(t *testing.T, user string, groups ...string) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: p.ca.Pool()}
	if user != "" {
		certPEM, keyPEM, err := p.ca.IssueClientPEM(user, groups)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// serveTLS configures cfg for p with x509 and token authentication on
// 127.0.0.1:0, starts Serve, and returns the server, its base URL and a
// function that cancels Serve and returns its result.
func (p *testPKI) serveTLS(t *testing.T, cfg Config) (*Server, string, func() error) {
	t.Helper()
	cfg.BindAddress = "127.0.0.1:0"
	cfg.CertFile, cfg.KeyFile = p.certFile, p.keyFile
	cfg.ClientCA = p.ca.Pool()
	cfg.Authenticator = authn.Union(authn.NewX509(p.ca.Pool()), cfg.Authenticator)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- s.Serve(ctx) }()
	var once sync.Once
	var err2 error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err2 = <-result:
			case <-time.After(30 * time.Second):
				t.Error("Serve did not return within 30s of cancel")
			}
		})
		return err2
	}
	t.Cleanup(func() { _ = stop() })
	return s, "https://" + s.Addr().String(), stop
}

// eventually polls cond every 10ms until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
