package provision

import (
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/kubelab/kubelab/components/kubelab/cluster/config"
	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
)

func TestPlan(t *testing.T) {
	c, err := config.Parse([]byte(`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: lab
networking:
  apiServerPort: 16443
nodes:
- role: control-plane
  extraMounts:
  - {hostPath: relative/dir, containerPath: /data}
  extraPortMappings:
  - {containerPort: 30080, hostPort: 8080}
- role: worker
- role: worker
`))
	if err != nil {
		t.Fatal(err)
	}
	config.SetNodeImage(c, "kubelab/node:x", false)
	specs, err := Plan(c, false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
		if s.Cluster != "lab" || s.Image != "kubelab/node:x" || s.Privileged {
			t.Errorf("spec %+v", s)
		}
	}
	if got := strings.Join(names, " "); got != "lab-control-plane lab-worker lab-worker2" {
		t.Errorf("names = %s", got)
	}
	cp := specs[0]
	if len(cp.Ports) != 2 || cp.Ports[1] != (v1alpha4.PortMapping{ListenAddress: "127.0.0.1", HostPort: 16443, ContainerPort: docker.APIServerPort}) {
		t.Errorf("control-plane ports = %+v, want the extra mapping and 127.0.0.1:16443->6443", cp.Ports)
	}
	if len(cp.Mounts) != 1 || !filepath.IsAbs(cp.Mounts[0].HostPath) || !strings.HasSuffix(cp.Mounts[0].HostPath, "relative/dir") {
		t.Errorf("mounts = %+v, want an absolute host path", cp.Mounts)
	}
	if len(specs[1].Ports) != 0 {
		t.Errorf("worker ports = %+v, want none", specs[1].Ports)
	}
	if len(c.Nodes[0].ExtraPortMappings) != 1 {
		t.Error("Plan modified the config")
	}

	c.Nodes[1].ExtraPortMappings = []v1alpha4.PortMapping{{ContainerPort: 1, Protocol: "QUIC"}}
	if _, err := Plan(c, false); err == nil || !strings.Contains(err.Error(), "unknown port mapping protocol: QUIC") {
		t.Errorf("Plan with a bad protocol = %v", err)
	}
}

func TestReadyLine(t *testing.T) {
	for line, want := range map[string]bool{
		"Reached target Multi-User System.":                             true,
		"[  OK  ] Reached target \x1b[0;1;39mMulti-User System\x1b[0m.": true,
		"detected cgroup v1":                                            false,
		"containerd starting":                                           false,
	} {
		if got := ReadyLine.MatchString(line); got != want {
			t.Errorf("ReadyLine(%q) = %v, want %v", line, got, want)
		}
	}
}
