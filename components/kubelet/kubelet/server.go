package kubelet

import (
	"fmt"

	"github.com/kubelab/kubelab/components/kubelet/server"
)

// ServerConfig configures the kubelet's HTTPS API.
type ServerConfig struct {
	// Address and Port are where it listens (0.0.0.0:10250).
	Address string
	Port    int
	// TLSCertFile and TLSKeyFile are its serving certificate; without
	// them a self-signed one is kept under <root>/pki.
	TLSCertFile, TLSKeyFile string
	// ClientCAFile verifies the API server's client certificate.
	ClientCAFile string
}

// newServer builds the kubelet API over the running kubelet.
func (k *Kubelet) newServer() (*server.Server, error) {
	sc := k.cfg.Server
	port := sc.Port
	if port == 0 {
		port = 10250
	}
	if (sc.TLSCertFile == "") != (sc.TLSKeyFile == "") {
		return nil, fmt.Errorf("kubelet server: give both --tls-cert-file and --tls-private-key-file, or neither")
	}
	return server.New(server.Config{
		Addr:     fmt.Sprintf("%s:%d", sc.Address, port),
		CertFile: sc.TLSCertFile, KeyFile: sc.TLSKeyFile, PKIDir: server.DefaultPKIDir(k.cfg.RootDir),
		ClientCAFile: sc.ClientCAFile, NodeName: k.cfg.NodeName, NodeIP: k.nodeIP(),
		Pods: k.pods, State: k.syncer.Reader(), Runtime: k.runtime,
	}), nil
}
