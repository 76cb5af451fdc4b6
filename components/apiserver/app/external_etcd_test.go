package app

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/apiserver/registry"
	"github.com/kubelab/kubelab/components/internal/pki"
)

// startTLSEtcd runs an etcd that requires client certificates signed by ca,
// as an external etcd cluster member would, on addr (":0" picks a port).
func startTLSEtcd(t *testing.T, dir string, ca *pki.CA, clientURL string) (*embed.Etcd, string) {
	t.Helper()
	certFile, keyFile, err := ca.LoadOrIssueServing(filepath.Join(dir, "pki"), "etcd", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := embed.NewConfig()
	cfg.Dir = filepath.Join(dir, "data")
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.UnsafeNoFsync = true
	if clientURL == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		clientURL = fmt.Sprintf("https://127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	cu, _ := url.Parse(clientURL)
	pu := url.URL{Scheme: "unix", Path: filepath.Join(dir, "peer.sock")}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = certFile, keyFile
	cfg.ClientTLSInfo.TrustedCAFile = filepath.Join(dir, "pki", pki.CACertFile)
	cfg.ClientTLSInfo.ClientCertAuth = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready")
	}
	return e, clientURL
}

// TestExternalEtcdWithClientCertificates runs the API server against an
// external etcd that requires client certificates, restarts etcd, and checks
// that acknowledged writes survive and the server keeps serving.
func TestExternalEtcdWithClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "pki"), "etcd-ca")
	if err != nil {
		t.Fatal(err)
	}
	etcd, clientURL := startTLSEtcd(t, dir, ca, "")
	certFile, keyFile, err := ca.LoadOrIssueClient(filepath.Join(dir, "pki"), "apiserver-etcd-client", "kube-apiserver", nil)
	if err != nil {
		t.Fatal(err)
	}
	o := NewOptions()
	o.BindAddress, o.SecurePort, o.DataDir = "127.0.0.1", 0, filepath.Join(dir, "apiserver")
	o.EtcdServers = []string{clientURL}
	o.EtcdCAFile, o.EtcdCertFile, o.EtcdKeyFile = filepath.Join(dir, "pki", pki.CACertFile), certFile, keyFile
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(ctx, o)
	if err != nil {
		etcd.Close()
		t.Fatalf("API server on external etcd: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	cms := s.Store("/v1, Resource=configmaps")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept"}, Data: map[string]string{"a": "1"}}
	if _, err := cms.Create(ctx, "default", cm, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	// etcd goes away and comes back on the same address and data.
	etcd.Close()
	etcd, _ = startTLSEtcd(t, dir, ca, clientURL)
	defer etcd.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		obj, err := cms.Get(ctx, "default", "kept")
		if err == nil {
			if got := obj.(*corev1.ConfigMap).Data["a"]; got != "1" {
				t.Fatalf("data after etcd restart: %q", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("API server did not reach etcd again: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	// A client certificate from another CA is refused: no data without it.
	other, _ := pki.LoadOrCreateCA(filepath.Join(dir, "other"), "other")
	badCert, badKey, _ := other.LoadOrIssueClient(filepath.Join(dir, "other"), "intruder", "intruder", nil)
	o2 := *o
	o2.EtcdCertFile, o2.EtcdKeyFile = badCert, badKey
	o2.DataDir = filepath.Join(dir, "apiserver2")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if s2, err := New(ctx2, &o2); err == nil {
		s2.close()
		t.Fatal("API server started with a client certificate etcd does not trust")
	}
}
