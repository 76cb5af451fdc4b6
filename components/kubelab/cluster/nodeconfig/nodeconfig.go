// Package nodeconfig renders the files `kubelab create cluster` writes into
// the node containers, with their paths on the node:
//
//   - every node: /etc/kubernetes/pki/ca.crt, /etc/kubernetes/kubelet.conf
//     (the kubelet's kubeconfig, user system:node:<node>), the kubelet's
//     serving pair /var/lib/kubelet/pki/kubelet.{crt,key}, kube-proxy's
//     kubeconfig /etc/kubernetes/kube-proxy.conf (user system:kube-proxy,
//     mounted by the kube-proxy DaemonSet, see ProxyDaemonSet), and last
//     /var/lib/kubelet/config.yaml (a KubeletConfiguration);
//   - the control-plane node also: the rest of the PKI (package certs),
//     admin.conf, scheduler.conf and controller-manager.conf under
//     /etc/kubernetes, and the static pods of etcd, kube-apiserver,
//     kube-scheduler and kube-controller-manager under
//     /etc/kubernetes/manifests.
//
// The node image's supervisor config starts the kubelet with
// --config=/var/lib/kubelet/config.yaml --kubeconfig=/etc/kubernetes/kubelet.conf
// once the config file exists, so KubeletConfigPath is written after every
// other file of its node.
package nodeconfig

import (
	"fmt"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/kubelab/kubelab/components/internal/kubeconfig"
	"github.com/kubelab/kubelab/components/kubelab/cluster/certs"
)

// APIServerPort is the API server's port inside the control-plane node.
const APIServerPort = 6443

// Node is one node of the cluster.
type Node struct {
	// Name is the node's container, host and Node object name.
	Name string
	// IP is its address on the cluster network.
	IP string
	// Role is control-plane or worker.
	Role v1alpha4.NodeRole
}

// Images are the image references of the control-plane static pods.
type Images struct {
	Etcd, APIServer, Scheduler, ControllerManager string
	// Proxy runs the kube-proxy DaemonSet.
	Proxy string
}

// Cluster is what the node files are rendered from.
type Cluster struct {
	// Name is the cluster's name.
	Name string
	// ControlPlane is the control-plane node.
	ControlPlane Node
	// PodSubnet and ServiceSubnet are the config's networking CIDRs.
	PodSubnet, ServiceSubnet string
	// Images run the static pods.
	Images Images
	// TaintControlPlane registers the control-plane node with
	// node-role.kubernetes.io/control-plane:NoSchedule (when it has workers).
	TaintControlPlane bool
	// ExtraSANs are further names or addresses of the API server.
	ExtraSANs []string
}

// InternalServer is the API server's URL inside the cluster network.
func (c Cluster) InternalServer() string {
	return fmt.Sprintf("https://%s:%d", c.ControlPlane.Name, APIServerPort)
}

// ControlPlaneFiles returns the files only the control-plane node gets:
// PKI, component and admin kubeconfigs and static pods.
func ControlPlaneFiles(c Cluster, p *certs.PKI) (map[string][]byte, error) {
	files, err := p.ControlPlaneFiles(certs.ControlPlane{
		Name: c.ControlPlane.Name, IP: c.ControlPlane.IP,
		ServiceSubnet: c.ServiceSubnet, ExtraSANs: c.ExtraSANs,
	})
	if err != nil {
		return nil, err
	}
	admin, err := p.Admin()
	if err != nil {
		return nil, err
	}
	local := fmt.Sprintf("https://%s:%d", c.ControlPlane.IP, APIServerPort)
	confs := []struct {
		file, user, server string
		groups             []string
	}{
		{"scheduler.conf", certs.SchedulerUser, local, certs.InterimGroups},
		{"controller-manager.conf", certs.ControllerManagerUser, local, certs.InterimGroups},
	}
	data, err := Kubeconfig(c.InternalServer(), certs.AdminUser, p.CA.CertPEM, admin)
	if err != nil {
		return nil, err
	}
	files[KubernetesDir+"/admin.conf"] = data
	for _, k := range confs {
		pair, err := p.Client(k.user, k.groups...)
		if err != nil {
			return nil, err
		}
		if files[KubernetesDir+"/"+k.file], err = Kubeconfig(k.server, k.user, p.CA.CertPEM, pair); err != nil {
			return nil, err
		}
	}
	pods, err := StaticPods(c)
	if err != nil {
		return nil, err
	}
	for path, data := range pods {
		files[path] = data
	}
	return files, nil
}

// NodeFiles returns the files every node gets except the kubelet's config
// (see KubeletConfig): the CA certificate, the kubelet's kubeconfig and its
// serving certificate.
func NodeFiles(c Cluster, p *certs.PKI, n Node) (map[string][]byte, error) {
	client, err := p.Kubelet(n.Name)
	if err != nil {
		return nil, err
	}
	serving, err := p.KubeletServing(n.Name, n.IP)
	if err != nil {
		return nil, err
	}
	conf, err := Kubeconfig(c.InternalServer(), "system:node:"+n.Name, p.CA.CertPEM, client)
	if err != nil {
		return nil, err
	}
	proxy, err := p.Client(certs.ProxyUser, certs.InterimGroups...)
	if err != nil {
		return nil, err
	}
	proxyConf, err := Kubeconfig(c.InternalServer(), certs.ProxyUser, p.CA.CertPEM, proxy)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		certs.Dir + "/ca.crt":           p.CA.CertPEM,
		KubernetesDir + "/kubelet.conf": conf,
		KubeletPKIDir + "/kubelet.crt":  serving.Cert,
		KubeletPKIDir + "/kubelet.key":  serving.Key,
		ProxyKubeconfigPath:             proxyConf,
	}, nil
}

// Kubeconfig renders a kubeconfig as kubeadm writes them: cluster
// "kubernetes", the user, and context <user>@kubernetes, with embedded
// credentials.
func Kubeconfig(server, user string, caPEM []byte, pair certs.Pair) ([]byte, error) {
	return kubeconfig.Bytes(kubeconfig.Cluster{
		Context:        user + "@kubernetes",
		Name:           "kubernetes",
		User:           user,
		Server:         server,
		CAData:         caPEM,
		ClientCertData: pair.Cert,
		ClientKeyData:  pair.Key,
	})
}
