package certificates

import (
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/kubelab/kubelab/components/kubelab/cluster/config"
	"github.com/kubelab/kubelab/components/kubelab/cluster/nodeconfig"
)

func TestClusterFor(t *testing.T) {
	c := config.Default()
	c.Name = "lab"
	cp := nodeconfig.Node{Name: "lab-control-plane", IP: "172.18.0.2", Role: v1alpha4.ControlPlaneRole}
	worker := nodeconfig.Node{Name: "lab-worker", IP: "172.18.0.3", Role: v1alpha4.WorkerRole}
	imgs := nodeconfig.Images{Etcd: "e"}

	single := ClusterFor(c, []nodeconfig.Node{cp}, imgs)
	if single.ControlPlane != cp || single.TaintControlPlane || single.Images != imgs ||
		single.PodSubnet != "10.244.0.0/16" || single.ServiceSubnet != "10.96.0.0/16" || single.Name != "lab" {
		t.Errorf("single-node cluster = %+v", single)
	}
	if got := single.InternalServer(); got != "https://lab-control-plane:6443" {
		t.Errorf("InternalServer = %s", got)
	}
	if multi := ClusterFor(c, []nodeconfig.Node{cp, worker}, imgs); !multi.TaintControlPlane {
		t.Error("control plane of a cluster with workers is not tainted")
	}
}
