// Package app assembles the kube-apiserver: options and flags, storage,
// the registry of resources, the REST endpoints and the HTTPS server.
package app

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Options configure the API server.
type Options struct {
	BindAddress      string
	SecurePort       int
	AdvertiseAddress string
	// TLSCertFile and TLSKeyFile serve HTTPS; ClientCAFile verifies client
	// certificates. Without them, a CA and serving certificate are created
	// under DataDir/pki.
	TLSCertFile, TLSKeyFile, ClientCAFile string
	TokenAuthFile                         string
	// KubeletClientCertificate and KubeletClientKey authenticate the API
	// server to kubelets (pods/log, pods/exec); without them a client
	// certificate is issued from the generated CA when there is one.
	// KubeletCertificateAuthority verifies kubelets' serving certificates.
	KubeletClientCertificate, KubeletClientKey, KubeletCertificateAuthority string

	// EtcdServers lists external etcd endpoints; empty embeds etcd in DataDir.
	EtcdServers                           []string
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	DataDir                               string
	// EtcdUnsafeNoFsync disables fsync in the embedded etcd (tests only).
	EtcdUnsafeNoFsync bool
	// CompactionInterval is how often etcd history is compacted.
	CompactionInterval time.Duration

	ServiceClusterIPRange string
	ServiceNodePortRange  string

	MaxRequestsInFlight         int
	MaxMutatingRequestsInFlight int
	ShutdownTimeout             time.Duration

	// WatchCache serves lists, gets at resourceVersion 0 and watches'
	// initial state from memory kept current by the etcd watch (upstream's
	// --watch-cache); off, every read goes to etcd.
	WatchCache bool
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		BindAddress:                 "0.0.0.0",
		SecurePort:                  6443,
		DataDir:                     "/var/lib/kubelab/apiserver",
		CompactionInterval:          5 * time.Minute,
		ServiceClusterIPRange:       "10.96.0.0/12",
		ServiceNodePortRange:        "30000-32767",
		MaxRequestsInFlight:         400,
		MaxMutatingRequestsInFlight: 200,
		ShutdownTimeout:             60 * time.Second,
		WatchCache:                  true,
	}
}

// AddFlags registers the options as upstream-named flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.BindAddress, "bind-address", o.BindAddress, "The IP address on which to listen for the --secure-port port.")
	fs.IntVar(&o.SecurePort, "secure-port", o.SecurePort, "The port on which to serve HTTPS with authentication and authorization (0 picks a free port).")
	fs.StringVar(&o.AdvertiseAddress, "advertise-address", o.AdvertiseAddress, "The IP address on which to advertise the apiserver to members of the cluster.")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", o.TLSCertFile, "File containing the x509 serving certificate.")
	fs.StringVar(&o.TLSKeyFile, "tls-private-key-file", o.TLSKeyFile, "File containing the x509 private key matching --tls-cert-file.")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "Client certificates signed by one of these CAs authenticate as their CommonName (user) and Organizations (groups).")
	fs.StringVar(&o.KubeletClientCertificate, "kubelet-client-certificate", o.KubeletClientCertificate, "Path to a client cert file for TLS to kubelets (pods/log, pods/exec, pods/attach, pods/portforward).")
	fs.StringVar(&o.KubeletClientKey, "kubelet-client-key", o.KubeletClientKey, "Path to a client key file for TLS to kubelets.")
	fs.StringVar(&o.KubeletCertificateAuthority, "kubelet-certificate-authority", o.KubeletCertificateAuthority, "Path to a cert file for the certificate authority of kubelets' serving certificates (unset: not verified).")
	fs.StringVar(&o.TokenAuthFile, "token-auth-file", o.TokenAuthFile, "CSV file of static bearer tokens: token,user,uid,\"group1,group2\".")
	fs.StringSliceVar(&o.EtcdServers, "etcd-servers", o.EtcdServers, "etcd servers to connect with (scheme://ip:port); empty runs an embedded etcd in --data-dir.")
	fs.StringVar(&o.EtcdCAFile, "etcd-cafile", o.EtcdCAFile, "SSL Certificate Authority file used to secure etcd communication.")
	fs.StringVar(&o.EtcdCertFile, "etcd-certfile", o.EtcdCertFile, "SSL certification file used to secure etcd communication.")
	fs.StringVar(&o.EtcdKeyFile, "etcd-keyfile", o.EtcdKeyFile, "SSL key file used to secure etcd communication.")
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir, "Directory for the embedded etcd and generated certificates.")
	fs.DurationVar(&o.CompactionInterval, "etcd-compaction-interval", o.CompactionInterval, "The interval of compaction requests (0 disables).")
	fs.StringVar(&o.ServiceClusterIPRange, "service-cluster-ip-range", o.ServiceClusterIPRange, "A CIDR from which to assign service cluster IPs.")
	fs.StringVar(&o.ServiceNodePortRange, "service-node-port-range", o.ServiceNodePortRange, "A port range to reserve for services with NodePort visibility.")
	fs.IntVar(&o.MaxRequestsInFlight, "max-requests-inflight", o.MaxRequestsInFlight, "The maximum number of non-mutating requests in flight at a given time.")
	fs.IntVar(&o.MaxMutatingRequestsInFlight, "max-mutating-requests-inflight", o.MaxMutatingRequestsInFlight, "The maximum number of mutating requests in flight at a given time.")
	fs.BoolVar(&o.WatchCache, "watch-cache", o.WatchCache, "Enable watch caching in the apiserver: lists are served from memory kept current by a watch of etcd.")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", o.ShutdownTimeout, "How long in-flight requests may take to finish on shutdown.")
}

// Validate checks the options.
func (o *Options) Validate() error {
	if net.ParseIP(o.BindAddress) == nil {
		return fmt.Errorf("--bind-address %q is not an IP address", o.BindAddress)
	}
	if o.SecurePort < 0 || o.SecurePort > 65535 {
		return fmt.Errorf("--secure-port %d is out of range", o.SecurePort)
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return fmt.Errorf("--tls-cert-file and --tls-private-key-file must be given together")
	}
	if (o.KubeletClientCertificate == "") != (o.KubeletClientKey == "") {
		return fmt.Errorf("--kubelet-client-certificate and --kubelet-client-key must be given together")
	}
	if _, _, err := o.nodePortRange(); err != nil {
		return err
	}
	if len(o.EtcdServers) == 0 && o.DataDir == "" {
		return fmt.Errorf("--data-dir is required for the embedded etcd")
	}
	return nil
}

func (o *Options) nodePortRange() (int, int, error) {
	lo, hi, ok := strings.Cut(o.ServiceNodePortRange, "-")
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return 0, 0, fmt.Errorf("--service-node-port-range %q: want MIN-MAX", o.ServiceNodePortRange)
	}
	return a, b, nil
}
