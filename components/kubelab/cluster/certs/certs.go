// Package certs creates the PKI of a lab cluster in memory, laid out as
// kubeadm lays it out under /etc/kubernetes/pki on the nodes: the cluster
// CA, the etcd CA, the API server's serving and client certificates, the
// service-account key pair, and client certificates for the admin, the
// components and each kubelet.
//
// Nothing is written on the host: the files live in the nodes, and the
// admin's credentials in the user's kubeconfig.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"time"

	"github.com/kubelab/kubelab/components/internal/pki"
)

// Dir is where the PKI lives on a node.
const Dir = "/etc/kubernetes/pki"

// Identities of the clients, as upstream names them.
const (
	AdminUser             = "kubernetes-admin"
	SchedulerUser         = "system:kube-scheduler"
	ControllerManagerUser = "system:kube-controller-manager"
	ProxyUser             = "system:kube-proxy"
	NodesGroup            = "system:nodes"
	MastersGroup          = "system:masters"
)

// InterimGroups are added to every component's and kubelet's certificate
// while the API server authorizes only system:masters; they go away when
// RBAC arrives and the upstream identities alone are enough.
var InterimGroups = []string{MastersGroup}

// PKI is a cluster's two CAs and its service-account key pair.
type PKI struct {
	// CA signs every certificate but etcd's.
	CA *pki.CA
	// EtcdCA signs etcd's serving certificate and its clients'.
	EtcdCA *pki.CA
	// ServiceAccountKey and ServiceAccountPub are PEM (sa.key, sa.pub).
	ServiceAccountKey, ServiceAccountPub []byte
}

// New creates the CAs and the service-account key pair of cluster name.
func New(name string) (*PKI, error) {
	ca, err := pki.NewCA("kubelab-" + name + "-ca")
	if err != nil {
		return nil, err
	}
	etcdCA, err := pki.NewCA("kubelab-" + name + "-etcd-ca")
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate service-account key: %w", err)
	}
	keyPEM, err := pki.EncodeKey(saKey)
	if err != nil {
		return nil, fmt.Errorf("encode service-account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, fmt.Errorf("encode service-account public key: %w", err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	return &PKI{CA: ca, EtcdCA: etcdCA, ServiceAccountKey: keyPEM, ServiceAccountPub: pubPEM}, nil
}

// Pair is a certificate and its key, PEM encoded.
type Pair struct {
	Cert, Key []byte
}

// Client issues a client certificate for user in groups.
func (p *PKI) Client(user string, groups ...string) (Pair, error) {
	cert, key, err := p.CA.IssueClientPEM(user, groups)
	return Pair{cert, key}, err
}

// Admin issues the cluster admin's client certificate (system:masters).
func (p *PKI) Admin() (Pair, error) {
	return p.Client(AdminUser, MastersGroup)
}

// Kubelet issues the kubelet client certificate of node (system:node:<node>
// in system:nodes).
func (p *PKI) Kubelet(node string) (Pair, error) {
	return p.Client("system:node:"+node, append([]string{NodesGroup}, InterimGroups...)...)
}

// KubeletServing issues the serving certificate of node's kubelet API.
func (p *PKI) KubeletServing(node, ip string) (Pair, error) {
	cert, key, err := p.CA.IssueServingPEM(node, []string{node, "localhost"}, ips(ip, "127.0.0.1"))
	return Pair{cert, key}, err
}

// ControlPlane describes the control-plane node certificates are issued for.
type ControlPlane struct {
	// Name is the node's host (and container) name.
	Name string
	// IP is its address on the cluster network.
	IP string
	// ServiceSubnet is the service CIDR; its first address is the
	// kubernetes Service's ClusterIP.
	ServiceSubnet string
	// ExtraSANs are further names or addresses the API server is reached at
	// (the published listen address, when it is not loopback or wildcard).
	ExtraSANs []string
}

// APIServerSANs returns the DNS names and IP addresses of the API server's
// serving certificate: the node's name and address, loopback, the
// kubernetes Service's names and ClusterIP, and any extras.
func APIServerSANs(cp ControlPlane) (dnsNames []string, addrs []net.IP, err error) {
	dnsNames = []string{cp.Name, "localhost", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	serviceIP, err := FirstIP(cp.ServiceSubnet)
	if err != nil {
		return nil, nil, err
	}
	addrs = ips(cp.IP, "127.0.0.1", serviceIP)
	for _, s := range cp.ExtraSANs {
		if ip := net.ParseIP(s); ip != nil {
			if !ip.IsUnspecified() && !ip.IsLoopback() {
				addrs = append(addrs, ip)
			}
		} else if s != "" {
			dnsNames = append(dnsNames, s)
		}
	}
	return dnsNames, addrs, nil
}

// FirstIP returns the first usable address of cidr (10.96.0.1 for
// 10.96.0.0/16), the ClusterIP of the kubernetes Service.
func FirstIP(cidr string) (string, error) {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", fmt.Errorf("service subnet %q: %w", cidr, err)
	}
	return prefix.Masked().Addr().Next().String(), nil
}

// ControlPlaneFiles returns the control-plane node's PKI files, keyed by
// their path on the node.
func (p *PKI) ControlPlaneFiles(cp ControlPlane) (map[string][]byte, error) {
	files := map[string][]byte{}
	add := func(name string, pair Pair) {
		files[Dir+"/"+name+".crt"] = pair.Cert
		files[Dir+"/"+name+".key"] = pair.Key
	}
	caKey, err := p.CA.KeyPEM()
	if err != nil {
		return nil, err
	}
	etcdCAKey, err := p.EtcdCA.KeyPEM()
	if err != nil {
		return nil, err
	}
	add("ca", Pair{p.CA.CertPEM, caKey})
	add("etcd/ca", Pair{p.EtcdCA.CertPEM, etcdCAKey})
	files[Dir+"/sa.key"] = p.ServiceAccountKey
	files[Dir+"/sa.pub"] = p.ServiceAccountPub

	dnsNames, addrs, err := APIServerSANs(cp)
	if err != nil {
		return nil, err
	}
	cert, key, err := p.CA.IssueServingPEM("kube-apiserver", dnsNames, addrs)
	if err != nil {
		return nil, err
	}
	add("apiserver", Pair{cert, key})
	pair, err := p.Client("kube-apiserver-kubelet-client", MastersGroup)
	if err != nil {
		return nil, err
	}
	add("apiserver-kubelet-client", pair)

	etcdServer, err := issueServerAndClient(p.EtcdCA, cp.Name, []string{cp.Name, "localhost"}, ips(cp.IP, "127.0.0.1", "::1"))
	if err != nil {
		return nil, fmt.Errorf("issue etcd serving certificate: %w", err)
	}
	add("etcd/server", etcdServer)
	cert, key, err = p.EtcdCA.IssueClientPEM("kube-apiserver-etcd-client", nil)
	if err != nil {
		return nil, err
	}
	add("apiserver-etcd-client", Pair{cert, key})
	cert, key, err = p.EtcdCA.IssueClientPEM("kube-etcd-healthcheck-client", nil)
	if err != nil {
		return nil, err
	}
	add("etcd/healthcheck-client", Pair{cert, key})
	return files, nil
}

// issueServerAndClient issues a certificate for both serving and client
// authentication, as etcd's serving certificate must be (etcd's gateway
// dials etcd with it).
func issueServerAndClient(ca *pki.CA, cn string, dnsNames []string, addrs []net.IP) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return Pair{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              dnsNames,
		IPAddresses:           addrs,
		NotBefore:             now.Add(-5 * time.Minute).UTC(),
		NotAfter:              minTime(now.Add(pki.LeafValidity), ca.Cert.NotAfter).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return Pair{}, err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{pki.EncodeCert(&x509.Certificate{Raw: der}), keyPEM}, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// ips parses the non-empty addresses among s.
func ips(s ...string) []net.IP {
	var out []net.IP
	for _, v := range s {
		if ip := net.ParseIP(v); ip != nil {
			out = append(out, ip)
		}
	}
	return out
}
