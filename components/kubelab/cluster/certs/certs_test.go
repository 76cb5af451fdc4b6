package certs

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/kubelab/kubelab/components/internal/pki"
)

func parse(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	c, err := pki.ParseCert(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func verify(t *testing.T, ca *pki.CA, cert *x509.Certificate, usage x509.ExtKeyUsage) {
	t.Helper()
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		t.Errorf("%s does not verify for %v: %v", cert.Subject.CommonName, usage, err)
	}
}

func TestControlPlaneFiles(t *testing.T) {
	p, err := New("lab")
	if err != nil {
		t.Fatal(err)
	}
	files, err := p.ControlPlaneFiles(ControlPlane{
		Name: "lab-control-plane", IP: "172.18.0.2", ServiceSubnet: "10.96.0.0/16",
		ExtraSANs: []string{"127.0.0.1", "0.0.0.0", "192.168.1.5", "lab.example"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for p := range files {
		paths = append(paths, strings.TrimPrefix(p, Dir+"/"))
	}
	slices.Sort(paths)
	want := []string{
		"apiserver-etcd-client.crt", "apiserver-etcd-client.key", "apiserver-kubelet-client.crt", "apiserver-kubelet-client.key",
		"apiserver.crt", "apiserver.key", "ca.crt", "ca.key",
		"etcd/ca.crt", "etcd/ca.key", "etcd/healthcheck-client.crt", "etcd/healthcheck-client.key", "etcd/server.crt", "etcd/server.key",
		"sa.key", "sa.pub",
	}
	if !slices.Equal(paths, want) {
		t.Errorf("files =\n%v\nwant\n%v", paths, want)
	}

	api := parse(t, files[Dir+"/apiserver.crt"])
	verify(t, p.CA, api, x509.ExtKeyUsageServerAuth)
	for _, name := range []string{"lab-control-plane", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "lab.example"} {
		if err := api.VerifyHostname(name); err != nil {
			t.Errorf("apiserver certificate: %v", err)
		}
	}
	for _, ip := range []string{"172.18.0.2", "127.0.0.1", "10.96.0.1", "192.168.1.5"} {
		if err := api.VerifyHostname(ip); err != nil {
			t.Errorf("apiserver certificate: %v", err)
		}
	}
	if slices.ContainsFunc(api.IPAddresses, func(ip net.IP) bool { return ip.IsUnspecified() }) {
		t.Error("apiserver certificate names 0.0.0.0")
	}

	etcd := parse(t, files[Dir+"/etcd/server.crt"])
	verify(t, p.EtcdCA, etcd, x509.ExtKeyUsageServerAuth)
	verify(t, p.EtcdCA, etcd, x509.ExtKeyUsageClientAuth)
	if err := etcd.VerifyHostname("172.18.0.2"); err != nil {
		t.Error(err)
	}
	verify(t, p.EtcdCA, parse(t, files[Dir+"/apiserver-etcd-client.crt"]), x509.ExtKeyUsageClientAuth)
	if _, err := parse(t, files[Dir+"/apiserver-etcd-client.crt"]).Verify(x509.VerifyOptions{Roots: p.CA.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("etcd client certificate verifies against the cluster CA; want the etcd CA only")
	}
	if b, _ := pem.Decode(files[Dir+"/sa.pub"]); b == nil || b.Type != "PUBLIC KEY" {
		t.Errorf("sa.pub is not a PEM public key")
	}
	if _, err := pki.ParseKey(files[Dir+"/sa.key"]); err != nil {
		t.Errorf("sa.key: %v", err)
	}
}

func TestClientIdentities(t *testing.T) {
	p, err := New("lab")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := p.Admin()
	if err != nil {
		t.Fatal(err)
	}
	kubelet, err := p.Kubelet("lab-worker")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := p.KubeletServing("lab-worker", "172.18.0.3")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pair   Pair
		cn     string
		groups []string
		usage  x509.ExtKeyUsage
	}{
		{admin, "kubernetes-admin", []string{"system:masters"}, x509.ExtKeyUsageClientAuth},
		{kubelet, "system:node:lab-worker", append([]string{"system:nodes"}, InterimGroups...), x509.ExtKeyUsageClientAuth},
		{serving, "lab-worker", nil, x509.ExtKeyUsageServerAuth},
	}
	for _, tt := range tests {
		c := parse(t, tt.pair.Cert)
		verify(t, p.CA, c, tt.usage)
		if c.Subject.CommonName != tt.cn || !slices.Equal(c.Subject.Organization, tt.groups) {
			t.Errorf("subject = %s %v, want %s %v", c.Subject.CommonName, c.Subject.Organization, tt.cn, tt.groups)
		}
	}
	if err := parse(t, serving.Cert).VerifyHostname("172.18.0.3"); err != nil {
		t.Error(err)
	}
}

func TestFirstIP(t *testing.T) {
	for in, want := range map[string]string{"10.96.0.0/16": "10.96.0.1", "10.96.5.7/12": "10.96.0.1", "fd00:10:96::/112": "fd00:10:96::1"} {
		if got, err := FirstIP(in); err != nil || got != want {
			t.Errorf("FirstIP(%s) = %s, %v, want %s", in, got, err, want)
		}
	}
	if _, err := FirstIP("nope"); err == nil {
		t.Error("FirstIP(nope) succeeded")
	}
}
