// Package integration drives a real in-process kubelab control plane with
// client-go (typed, dynamic and metadata clients, informers and raw REST)
// and checks that the API server behaves as upstream's does.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubelab/kubelab/components/internal/pki"
	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
)

// pollTimeout bounds every wait for an eventual condition.
const pollTimeout = 10 * time.Second

// start starts a control plane for the test: etcd and the API server
// only, so that no controller or scheduler reacts to what a test writes.
func start(t *testing.T) *testcontrolplane.ControlPlane {
	t.Helper()
	return startWith(t, nil)
}

// startWith is start with the local options adjusted by configure.
func startWith(t *testing.T, configure func(*local.Options)) *testcontrolplane.ControlPlane {
	t.Helper()
	return testcontrolplane.StartWith(t, func(o *local.Options) {
		o.Controllers, o.NoScheduler, o.HollowNodes = []string{}, true, 0
		if configure != nil {
			configure(o)
		}
	})
}

// newNamespace creates a namespace named name and returns it.
func newNamespace(t *testing.T, c kubernetes.Interface, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// eventually polls cond until it reports true, failing the test after
// pollTimeout with the last error.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: last error %v", what, lastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testPod is a minimal valid pod.
func testPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "test"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main", Image: "registry.k8s.io/pause:3.10",
		}}},
	}
}

// response is a raw HTTP response.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// status decodes the body as a metav1.Status.
func (r response) status(t *testing.T) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatalf("response %d is not a Status: %v: %s", r.code, err, r.body)
	}
	return st
}

// rawClient is an HTTP client with cfg's TLS and credentials.
func rawClient(t *testing.T, cfg *rest.Config) *http.Client {
	t.Helper()
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatalf("http client: %v", err)
	}
	return c
}

// do sends one request to the server of cfg and reads the whole answer.
// headers holds alternating names and values.
func do(t *testing.T, cfg *rest.Config, method, path string, body []byte, headers ...string) response {
	t.Helper()
	return doWith(t, rawClient(t, cfg), cfg.Host, method, path, body, headers...)
}

func doWith(t *testing.T, c *http.Client, host, method, path string, body []byte, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, strings.TrimSuffix(host, "/")+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
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
	return response{code: resp.StatusCode, header: resp.Header, body: data}
}

// wantStatus checks that err is an API error with code and reason.
func wantStatus(t *testing.T, err error, code int32, reason metav1.StatusReason) *apierrors.StatusError {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %d %s", code, reason)
	}
	se, ok := err.(*apierrors.StatusError)
	if !ok {
		t.Fatalf("got %T %v, want an API status error %d %s", err, err, code, reason)
	}
	if se.ErrStatus.Code != code || se.ErrStatus.Reason != reason {
		t.Fatalf("got %d %s (%s), want %d %s", se.ErrStatus.Code, se.ErrStatus.Reason, se.ErrStatus.Message, code, reason)
	}
	return se
}

// etcdClient connects a second client to the control plane's embedded
// etcd through its unix socket, for what the API cannot do (compaction,
// corrupt values).
func etcdClient(t *testing.T, cp *testcontrolplane.ControlPlane) *clientv3.Client {
	t.Helper()
	sock := filepath.Join(cp.DataDir, "etcd", "client.sock")
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"unix://" + sock}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// compact compacts etcd up to its current revision and returns it.
func compact(t *testing.T, cp *testcontrolplane.ControlPlane) int64 {
	t.Helper()
	c := etcdClient(t, cp)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := c.Get(ctx, "/registry/health-revision", clientv3.WithCountOnly())
	if err != nil {
		t.Fatalf("etcd revision: %v", err)
	}
	rev := resp.Header.Revision
	if _, err := c.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact etcd to %d: %v", rev, err)
	}
	return rev
}

// userConfig returns a client config authenticating with a new client
// certificate for user in groups, issued by the control plane's CA.
func userConfig(t *testing.T, cp *testcontrolplane.ControlPlane, user string, groups ...string) *rest.Config {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(filepath.Join(cp.DataDir, "pki"), "kubelab-ca")
	if err != nil {
		t.Fatalf("load CA: %v", err)
	}
	certPEM, keyPEM, err := ca.IssueClientPEM(user, groups)
	if err != nil {
		t.Fatalf("issue client certificate: %v", err)
	}
	cfg := rest.AnonymousClientConfig(cp.Config)
	cfg.TLSClientConfig.CertData, cfg.TLSClientConfig.KeyData = certPEM, keyPEM
	return cfg
}

// anonymousConfig returns a client config that trusts the server but
// presents no credentials.
func anonymousConfig(cp *testcontrolplane.ControlPlane) *rest.Config {
	return rest.AnonymousClientConfig(cp.Config)
}

func ptr[T any](v T) *T { return &v }

// controlPlane is the running control plane a test drives.
type controlPlane = *testcontrolplane.ControlPlane
