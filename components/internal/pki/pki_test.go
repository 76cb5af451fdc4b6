package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestLoadOrCreateCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := LoadOrCreateCA(dir, "kubelab-ca")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !ca.Cert.IsCA || ca.Cert.Subject.CommonName != "kubelab-ca" {
		t.Errorf("cert: IsCA=%v CN=%q", ca.Cert.IsCA, ca.Cert.Subject.CommonName)
	}
	if got := ca.Cert.NotAfter.Sub(ca.Cert.NotBefore); got < CAValidity {
		t.Errorf("validity %v, want at least %v", got, CAValidity)
	}
	assertMode(t, dir, 0o700)
	assertMode(t, filepath.Join(dir, CAKeyFile), 0o600)

	again, err := LoadOrCreateCA(dir, "ignored-on-reload")
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !bytes.Equal(again.Cert.Raw, ca.Cert.Raw) || !bytes.Equal(again.CertPEM, ca.CertPEM) {
		t.Error("reload returned a different certificate")
	}
	if !publicKeysEqual(again.Key.Public(), ca.Key.Public()) {
		t.Error("reload returned a different key")
	}
	if keyPEM, err := ca.KeyPEM(); err != nil || !bytes.Equal(keyPEM, mustRead(t, filepath.Join(dir, CAKeyFile))) {
		t.Errorf("KeyPEM differs from ca.key (err %v)", err)
	}
}

func TestLoadOrCreateCAErrors(t *testing.T) {
	other, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "other"), "other")
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := other.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files map[string][]byte
	}{
		{name: "only certificate", files: map[string][]byte{CACertFile: other.CertPEM}},
		{name: "only key", files: map[string][]byte{CAKeyFile: otherKey}},
		{name: "garbage certificate", files: map[string][]byte{CACertFile: []byte("nope"), CAKeyFile: otherKey}},
		{name: "mismatched key", files: map[string][]byte{CACertFile: other.CertPEM, CAKeyFile: mustKeyPEM(t)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
					t.Fatal(err)
				}
				// Left over from long ago, not a CA being created right now.
				old := time.Now().Add(-time.Hour)
				if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := LoadOrCreateCA(dir, "x"); err == nil {
				t.Error("expected an error, got a CA")
			}
		})
	}
}

func TestLoadOrCreateCAConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	cas := make([]*CA, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { cas[i], errs[i] = LoadOrCreateCA(dir, "kubelab-ca") })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !bytes.Equal(cas[i].Cert.Raw, cas[0].Cert.Raw) {
			t.Errorf("caller %d got a different CA", i)
		}
	}
}

func TestLoadOrIssueServing(t *testing.T) {
	ca := newTestCA(t)
	otherCA := newTestCA(t)
	dir := filepath.Join(t.TempDir(), "certs")
	localhost := []net.IP{net.ParseIP("127.0.0.1")}
	base := []string{"localhost", "kubernetes.default.svc"}

	tests := []struct {
		name     string
		ca       *CA
		dnsNames []string
		ips      []net.IP
		reissue  bool
	}{
		{name: "first issue", ca: ca, dnsNames: base, ips: localhost, reissue: true},
		{name: "same SANs reused", ca: ca, dnsNames: base, ips: localhost},
		{name: "subset reused", ca: ca, dnsNames: base[:1], ips: []net.IP{net.ParseIP("127.0.0.1").To4()}},
		{name: "new DNS name", ca: ca, dnsNames: append(base, "kubelab-control-plane"), ips: localhost, reissue: true},
		{name: "new IP", ca: ca, dnsNames: base, ips: []net.IP{net.ParseIP("::1")}, reissue: true},
		{name: "other CA", ca: otherCA, dnsNames: base, ips: localhost, reissue: true},
	}
	var prev []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile, err := tt.ca.LoadOrIssueServing(dir, "apiserver", tt.dnsNames, tt.ips)
			if err != nil {
				t.Fatal(err)
			}
			if certFile != filepath.Join(dir, "apiserver.crt") || keyFile != filepath.Join(dir, "apiserver.key") {
				t.Errorf("paths %s %s", certFile, keyFile)
			}
			assertMode(t, keyFile, 0o600)
			data := mustRead(t, certFile)
			if reissued := !bytes.Equal(data, prev); reissued != tt.reissue {
				t.Errorf("reissued = %v, want %v", reissued, tt.reissue)
			}
			prev = data

			cert, err := ParseCert(data)
			if err != nil {
				t.Fatal(err)
			}
			if !coversSANs(cert, tt.dnsNames, tt.ips) {
				t.Errorf("cert SANs %v %v do not cover %v %v", cert.DNSNames, cert.IPAddresses, tt.dnsNames, tt.ips)
			}
			if _, err := cert.Verify(x509.VerifyOptions{
				Roots: tt.ca.Pool(), DNSName: tt.dnsNames[0], KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}); err != nil {
				t.Errorf("verify: %v", err)
			}
			if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
				t.Errorf("load key pair: %v", err)
			}
		})
	}
}

func TestLoadOrIssueServingRenewsExpiring(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := leafPaths(dir, "apiserver")
	key, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	serial, err := newSerial()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "apiserver"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(RenewBefore / 2),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := EncodeKey(key)
	if err := writePair(dir, certFile, keyFile, EncodeCert(&x509.Certificate{Raw: der}), keyPEM); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.LoadOrIssueServing(dir, "apiserver", []string{"localhost"}, nil); err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCert(mustRead(t, certFile))
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(cert.NotAfter) < LeafValidity-time.Hour {
		t.Errorf("expiring certificate kept: NotAfter %v", cert.NotAfter)
	}
}

func TestLoadOrIssueClient(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	tests := []struct {
		name    string
		cn      string
		orgs    []string
		reissue bool
	}{
		{name: "first issue", cn: "kubernetes-admin", orgs: []string{"system:masters", "devs"}, reissue: true},
		{name: "same identity reused", cn: "kubernetes-admin", orgs: []string{"devs", "system:masters"}},
		{name: "group dropped", cn: "kubernetes-admin", orgs: []string{"system:masters"}, reissue: true},
		{name: "user renamed", cn: "alice", orgs: []string{"system:masters"}, reissue: true},
		{name: "no groups", cn: "alice", reissue: true},
	}
	var prev []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile, err := ca.LoadOrIssueClient(dir, "admin", tt.cn, tt.orgs)
			if err != nil {
				t.Fatal(err)
			}
			assertMode(t, keyFile, 0o600)
			data := mustRead(t, certFile)
			if reissued := !bytes.Equal(data, prev); reissued != tt.reissue {
				t.Errorf("reissued = %v, want %v", reissued, tt.reissue)
			}
			prev = data
			cert, err := ParseCert(data)
			if err != nil {
				t.Fatal(err)
			}
			if cert.Subject.CommonName != tt.cn || !sameSet(cert.Subject.Organization, tt.orgs) {
				t.Errorf("subject %v, want CN=%s O=%v", cert.Subject, tt.cn, tt.orgs)
			}
			if _, err := cert.Verify(x509.VerifyOptions{
				Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			}); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

func TestIssuePEM(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name  string
		issue func() ([]byte, []byte, error)
		usage x509.ExtKeyUsage
	}{
		{name: "client", usage: x509.ExtKeyUsageClientAuth, issue: func() ([]byte, []byte, error) {
			return ca.IssueClientPEM("system:kube-scheduler", nil)
		}},
		{name: "serving", usage: x509.ExtKeyUsageServerAuth, issue: func() ([]byte, []byte, error) {
			return ca.IssueServingPEM("kubelet", []string{"node-1"}, []net.IP{net.ParseIP("10.0.0.2")})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, keyPEM, err := tt.issue()
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatalf("key pair: %v", err)
			}
			if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{tt.usage}}); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

func newTestCA(t *testing.T) *CA {
	t.Helper()
	ca, err := LoadOrCreateCA(t.TempDir(), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustKeyPEM(t *testing.T) []byte {
	t.Helper()
	key, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}

func TestNewCA(t *testing.T) {
	ca, err := NewCA("lab-ca")
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || ca.Cert.Subject.CommonName != "lab-ca" {
		t.Errorf("NewCA: IsCA=%v CN=%q", ca.Cert.IsCA, ca.Cert.Subject.CommonName)
	}
	certPEM, _, err := ca.IssueClientPEM("user", nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate issued by NewCA's CA does not verify: %v", err)
	}
}
