package app

import (
	"fmt"
	"path/filepath"

	"github.com/kubelab/kubelab/components/apiserver/endpoints"
	"github.com/kubelab/kubelab/components/apiserver/kubeletproxy"
	"github.com/kubelab/kubelab/components/internal/pki"
)

// kubeletClientUser is the identity of the generated kubelet client
// certificate, as kubeadm names it.
const kubeletClientUser = "kube-apiserver-kubelet-client"

// connectKubelets makes api serve pods/log, pods/exec, pods/attach and
// pods/portforward through the pods' kubelets.
func (s *APIServer) connectKubelets(api *endpoints.Handler) error {
	o := s.opts
	cert, key := o.KubeletClientCertificate, o.KubeletClientKey
	if cert == "" && o.TLSCertFile == "" {
		// The generated CA (see serverConfig) signs a kubelet client
		// certificate too; kubelets trusting that CA accept it.
		dir := filepath.Join(o.DataDir, "pki")
		ca, err := pki.LoadOrCreateCA(dir, "kubelab-ca")
		if err != nil {
			return err
		}
		if cert, key, err = ca.LoadOrIssueClient(dir, "apiserver-kubelet-client", kubeletClientUser, []string{"system:masters"}); err != nil {
			return fmt.Errorf("kubelet client certificate: %w", err)
		}
	}
	proxy, err := kubeletproxy.New(kubeletproxy.Config{
		Nodes: s.stores["/v1, Resource=nodes"], ClientCertFile: cert, ClientKeyFile: key,
		CAFile: o.KubeletCertificateAuthority,
	})
	if err != nil {
		return err
	}
	api.SetConnector(proxy)
	return nil
}
