package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubelab/kubelab/components/internal/pki"
	"github.com/kubelab/kubelab/components/kubelab/local"
)

func TestAuthentication(t *testing.T) {
	cp := start(t)
	anon := anonymousConfig(cp)

	t.Run("anonymous", func(t *testing.T) {
		for _, path := range []string{"/api", "/apis", "/api/v1/namespaces", "/openapi/v3", "/metrics"} {
			resp := do(t, anon, "GET", path, nil)
			if resp.code != 401 || resp.status(t).Reason != metav1.StatusReasonUnauthorized {
				t.Errorf("anonymous GET %s: %d %s, want 401 Unauthorized", path, resp.code, resp.body)
			}
		}
		for _, path := range []string{"/healthz", "/livez", "/readyz", "/version"} {
			resp := do(t, anon, "GET", path, nil)
			if resp.code != 200 {
				t.Errorf("anonymous GET %s: %d %s, want 200", path, resp.code, resp.body)
			}
		}
		resp := do(t, anon, "GET", "/version", nil)
		var v version.Info
		if err := json.Unmarshal(resp.body, &v); err != nil || !strings.HasPrefix(v.GitVersion, "v1.") || v.Platform == "" {
			t.Errorf("/version: %v %s", err, resp.body)
		}
		if resp := do(t, anon, "GET", "/healthz", nil); string(resp.body) != "ok" {
			t.Errorf("/healthz body %q, want ok", resp.body)
		}
		_, err := kubernetes.NewForConfigOrDie(anon).CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
		wantStatus(t, err, 401, metav1.StatusReasonUnauthorized)
	})

	t.Run("certificate of another CA", func(t *testing.T) {
		other, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "pki"), "intruder-ca")
		if err != nil {
			t.Fatal(err)
		}
		certPEM, keyPEM, err := other.IssueClientPEM("mallory", []string{"system:masters"})
		if err != nil {
			t.Fatal(err)
		}
		cfg := rest.AnonymousClientConfig(cp.Config)
		cfg.CertData, cfg.KeyData = certPEM, keyPEM
		resp := do(t, cfg, "GET", "/api/v1/namespaces", nil)
		if resp.code != 401 || resp.status(t).Reason != metav1.StatusReasonUnauthorized {
			t.Errorf("foreign certificate: %d %s, want 401", resp.code, resp.body)
		}
	})

	t.Run("not in system:masters", func(t *testing.T) {
		alice := userConfig(t, cp, "alice", "developers")
		c := kubernetes.NewForConfigOrDie(alice)
		_, err := c.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
		se := wantStatus(t, err, 403, metav1.StatusReasonForbidden)
		want := `namespaces is forbidden: User "alice" cannot list resource "namespaces" in API group "" at the cluster scope`
		if se.ErrStatus.Message != want {
			t.Errorf("forbidden message %q, want %q", se.ErrStatus.Message, want)
		}
		_, err = c.AppsV1().Deployments("default").Get(t.Context(), "web", metav1.GetOptions{})
		se = wantStatus(t, err, 403, metav1.StatusReasonForbidden)
		want = `deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments" in API group "apps" in the namespace "default"`
		if se.ErrStatus.Message != want {
			t.Errorf("forbidden message %q, want %q", se.ErrStatus.Message, want)
		}
		if d := se.ErrStatus.Details; d == nil || d.Group != "apps" || d.Kind != "deployments" || d.Name != "web" {
			t.Errorf("forbidden details %+v", d)
		}
		// Health and version stay public.
		if resp := do(t, alice, "GET", "/readyz", nil); resp.code != 200 {
			t.Errorf("alice GET /readyz: %d", resp.code)
		}
		// The admin is a member of system:masters.
		if _, err := cp.Client.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{}); err != nil {
			t.Errorf("admin: %v", err)
		}
	})
}

// TestTooManyRequests fills the one mutating slot of a server started with
// --max-mutating-requests-inflight=1 (an admin create whose body has not
// arrived yet) and checks that another user is turned away with 429 while
// system:masters is still served, as upstream's max-in-flight filter does.
func TestTooManyRequests(t *testing.T) {
	cp := startWith(t, func(o *local.Options) { o.MaxRequestsInFlight, o.MaxMutatingRequestsInFlight = 1, 1 })
	ns := newNamespace(t, cp.Client, "inflight")
	path := "/api/v1/namespaces/" + ns + "/configmaps"
	body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"slow"}}`

	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(t.Context(), "POST", cp.Config.Host+path, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	done := make(chan int, 1)
	go func() {
		resp, err := rawClient(t, cp.Config).Do(req)
		if err != nil {
			done <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte(body[:10])); err != nil {
		t.Fatal(err)
	}

	alice := userConfig(t, cp, "alice")
	var last response
	eventually(t, "a 429 while the slot is held", func() (bool, error) {
		last = do(t, alice, "POST", path, []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"alice"}}`))
		return last.code == 429, nil
	})
	st := last.status(t)
	if st.Reason != metav1.StatusReasonTooManyRequests || last.header.Get("Retry-After") != "1" ||
		st.Message != "Too many requests, please try again later." {
		t.Errorf("429: Retry-After %q status %+v", last.header.Get("Retry-After"), st)
	}
	// system:masters is exempt.
	if resp := do(t, cp.Config, "POST", path, []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"admin"}}`)); resp.code != 201 {
		t.Errorf("admin while the slot is held: %d %s, want 201", resp.code, resp.body)
	}
	// Health checks are never limited.
	if resp := do(t, anonymousConfig(cp), "GET", "/readyz", nil); resp.code != 200 {
		t.Errorf("/readyz while the slot is held: %d", resp.code)
	}

	if _, err := pw.Write([]byte(body[10:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if code := <-done; code != 201 {
		t.Fatalf("the slow create finished with %d, want 201", code)
	}
	// With the slot free, alice is no longer throttled, only forbidden.
	if resp := do(t, alice, "POST", path, []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"alice"}}`)); resp.code != 403 {
		t.Errorf("alice with the slot free: %d, want 403", resp.code)
	}
}
