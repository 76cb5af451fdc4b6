package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

const header = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"

func TestShippedConfigs(t *testing.T) {
	tests := []struct {
		file             string
		controlPlanes    int
		workers          int
		extraPortMapping bool
	}{
		{"default.yaml", 1, 2, false},
		{"single.yaml", 1, 0, false},
		{"large.yaml", 1, 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := Load(filepath.Join("..", "..", "..", "..", "kindconfig", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			c.Name = "kubelab"
			SetNodeImage(c, "kubelab/node:test", false)
			if err := Validate(c); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if w := Warnings(c); len(w) > 0 {
				t.Errorf("Warnings = %v, want none", w)
			}
			count := map[v1alpha4.NodeRole]int{}
			for _, n := range c.Nodes {
				count[n.Role]++
			}
			if count[v1alpha4.ControlPlaneRole] != tt.controlPlanes || count[v1alpha4.WorkerRole] != tt.workers {
				t.Errorf("roles = %v, want %d control-plane, %d workers", count, tt.controlPlanes, tt.workers)
			}
			if got := len(c.Nodes[0].ExtraPortMappings) > 0; got != tt.extraPortMapping {
				t.Errorf("control plane has extraPortMappings = %v, want %v", got, tt.extraPortMapping)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", header + "nodes:\n- role: control-plane\n  bogus: 1\n",
			"unable to decode config: yaml: unmarshal errors:\n  line 5: field bogus not found in type v1alpha4.Node"},
		{"unknown top-level field", header + "nodez: []\n", "field nodez not found in type v1alpha4.Cluster"},
		{"bad api version", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n", "unknown apiVersion: kind.x-k8s.io/v1alpha3"},
		{"no api version", "kind: Cluster\n", "unknown apiVersion: "},
		{"bad kind", "kind: Node\napiVersion: kind.x-k8s.io/v1alpha4\n", "unknown kind Node for apiVersion: kind.x-k8s.io/v1alpha4"},
		{"not yaml", "\t:::", "could not determine kind / apiVersion for config"},
		{"wrong type", header + "nodes: 3\n", "unable to decode config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(header + "nodes:\n- role: control-plane\n- role: worker\n  image: my/node:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Nodes[0].Image != "" {
		t.Errorf("unset image defaulted to %q, want it left empty for kubelab's node image", c.Nodes[0].Image)
	}
	if c.Nodes[1].Image != "my/node:1" {
		t.Errorf("explicit image = %q", c.Nodes[1].Image)
	}
	n := c.Networking
	if n.PodSubnet != "10.244.0.0/16" || n.ServiceSubnet != "10.96.0.0/16" || n.APIServerAddress != "127.0.0.1" || n.IPFamily != v1alpha4.IPv4Family {
		t.Errorf("networking defaults = %+v", n)
	}
	SetNodeImage(c, "kubelab/node:a", false)
	if c.Nodes[0].Image != "kubelab/node:a" || c.Nodes[1].Image != "my/node:1" {
		t.Errorf("SetNodeImage(override=false) = %q, %q", c.Nodes[0].Image, c.Nodes[1].Image)
	}
	SetNodeImage(c, "kubelab/node:b", true)
	if c.Nodes[0].Image != "kubelab/node:b" || c.Nodes[1].Image != "kubelab/node:b" {
		t.Errorf("SetNodeImage(override=true) = %q, %q", c.Nodes[0].Image, c.Nodes[1].Image)
	}

	d := Default()
	if len(d.Nodes) != 1 || d.Nodes[0].Role != v1alpha4.ControlPlaneRole || d.Nodes[0].Image != "" {
		t.Errorf("Default nodes = %+v", d.Nodes)
	}
	empty, err := Load("")
	if err != nil || len(empty.Nodes) != 1 {
		t.Errorf("Load(\"\") = %+v, %v", empty, err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error; none means valid
	}{
		{"valid", "nodes:\n- role: control-plane\n- role: worker\n", nil},
		{"bad name and role", "name: Bad_Name\nnodes:\n- role: master\n", []string{
			"'Bad_Name' is not a valid cluster name, cluster names must match `^[a-z0-9.-]+$`",
			`invalid configuration for node 0: "master" is not a valid node role`,
			"must have at least one control-plane node"}},
		{"bad subnet", "networking:\n  podSubnet: nope\n", []string{`invalid pod subnet failed to parse cidr value:"nope"`}},
		{"ipv6 subnet for ipv4", "networking:\n  serviceSubnet: fd00::/112\n", []string{"invalid service subnet expected IPv4 CIDR for IPv4 family"}},
		{"bad port", "networking:\n  apiServerPort: 70000\n", []string{"invalid apiServerPort: invalid port number: 70000"}},
		{"duplicate host port", "nodes:\n- role: control-plane\n  extraPortMappings:\n  - {containerPort: 80, hostPort: 8080}\n  - {containerPort: 81, hostPort: 8080, listenAddress: 127.0.0.1}\n",
			[]string{"port mapping with same listen address, port and protocol already configured: 127.0.0.1:8080/"}},
		{"random host ports may repeat", "nodes:\n- role: control-plane\n  extraPortMappings:\n  - {containerPort: 80}\n  - {containerPort: 81}\n", nil},
		{"two control planes", "nodes:\n- role: control-plane\n- role: control-plane\n", []string{"kubelab supports one control-plane node, the config has 2"}},
		{"ipv6", "networking:\n  ipFamily: ipv6\n", []string{"ipFamily ipv6 is not supported by kubelab yet"}},
		{"bad proxy mode", "networking:\n  kubeProxyMode: magic\n", []string{"invalid kubeProxyMode: magic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(header + tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if c.Name == "" {
				c.Name = "lab"
			}
			SetNodeImage(c, "kubelab/node:test", false)
			err = Validate(c)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateRequiresImage(t *testing.T) {
	c := Default()
	c.Name = "lab"
	if err := Validate(c); err == nil || !strings.Contains(err.Error(), "image is a required field") {
		t.Fatalf("Validate without image = %v", err)
	}
}

func TestWarnings(t *testing.T) {
	c, err := Parse([]byte(header + "featureGates: {Foo: true}\nkubeadmConfigPatches: [x]\ncontainerdConfigPatches: [y]\nnetworking:\n  kubeProxyMode: ipvs\nnodes:\n- role: control-plane\n  kubeadmConfigPatches: [z]\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(Warnings(c), "; ")
	for _, w := range []string{"featureGates", "kubeadmConfigPatches", "containerdConfigPatches", "networking.kubeProxyMode", "nodes[0].kubeadmConfigPatches"} {
		if !strings.Contains(got, w+" is ignored by kubelab") {
			t.Errorf("Warnings = %q, want one for %s", got, w)
		}
	}
}

func TestNodeNames(t *testing.T) {
	c, err := Parse([]byte(header + "name: lab\nnodes:\n- role: control-plane\n- role: worker\n- role: worker\n- role: worker\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(NodeNames(c), " ")
	if want := "lab-control-plane lab-worker lab-worker2 lab-worker3"; got != want {
		t.Errorf("NodeNames = %q, want %q", got, want)
	}
}

func TestLoadStdin(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = old })
	go func() {
		w.WriteString(header + "name: piped\n")
		w.Close()
	}()
	c, err := Load("-")
	if err != nil || c.Name != "piped" {
		t.Fatalf("Load(-) = %+v, %v", c, err)
	}
}
