package docker

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

func TestRunArgs(t *testing.T) {
	cp := Node{
		Name: "lab-control-plane", Cluster: "lab", Role: v1alpha4.ControlPlaneRole, Image: "kubelab/node:abc",
		Mounts: []v1alpha4.Mount{{HostPath: "/src", ContainerPath: "/dst", Readonly: true}},
		Ports:  []v1alpha4.PortMapping{{ListenAddress: "127.0.0.1", HostPort: 40000, ContainerPort: 6443}},
	}
	restricted := strings.Join(RunArgs(cp), " ")
	want := "--name lab-control-plane --hostname lab-control-plane" +
		" --label io.x-k8s.kind.cluster=lab --label io.x-k8s.kind.role=control-plane" +
		" --detach --tty --net kind --restart=on-failure:1 --init=false --cgroupns=private" +
		" --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined" +
		" --security-opt systempaths=unconfined --device-cgroup-rule a *:* rwm" +
		" --tmpfs /tmp --tmpfs /run --volume /var -e KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER" +
		" --volume=/src:/dst:ro --publish=127.0.0.1:40000:6443/TCP -e KUBECONFIG=/etc/kubernetes/admin.conf kubelab/node:abc"
	if restricted != want {
		t.Errorf("RunArgs(restricted control plane) =\n%s\nwant\n%s", restricted, want)
	}

	worker := Node{Name: "lab-worker", Cluster: "lab", Role: v1alpha4.WorkerRole, Image: "img", Privileged: true,
		LibModules: true, Fuse: true, Network: "other", Env: []string{"A=B"}}
	args := RunArgs(worker)
	s := strings.Join(args, " ")
	for _, w := range []string{"--privileged --security-opt seccomp=unconfined --security-opt apparmor=unconfined",
		"--net other", "--volume /lib/modules:/lib/modules:ro", "--device /dev/fuse", "-e A=B", "--label io.x-k8s.kind.role=worker"} {
		if !strings.Contains(s, w) {
			t.Errorf("RunArgs(privileged worker) = %s, want %q in it", s, w)
		}
	}
	for _, no := range []string{"--cap-add", "KUBECONFIG", "--publish"} {
		if strings.Contains(s, no) {
			t.Errorf("RunArgs(privileged worker) = %s, want no %q", s, no)
		}
	}
	if args[len(args)-1] != "img" {
		t.Errorf("image is not last: %v", args)
	}
}

func TestPortArgs(t *testing.T) {
	tests := []struct {
		in   v1alpha4.PortMapping
		want string
	}{
		{v1alpha4.PortMapping{ContainerPort: 80, HostPort: 8080}, "--publish=0.0.0.0:8080:80/TCP"},
		{v1alpha4.PortMapping{ContainerPort: 53, HostPort: 5353, Protocol: v1alpha4.PortMappingProtocolUDP, ListenAddress: "127.0.0.1"}, "--publish=127.0.0.1:5353:53/UDP"},
		{v1alpha4.PortMapping{ContainerPort: 80, HostPort: -1}, "--publish=0.0.0.0:0:80/TCP"},
		{v1alpha4.PortMapping{ContainerPort: 80, HostPort: 8080, ListenAddress: "::1"}, "--publish=[::1]:8080:80/TCP"},
	}
	for _, tt := range tests {
		if got := PortArgs([]v1alpha4.PortMapping{tt.in}); len(got) != 1 || got[0] != tt.want {
			t.Errorf("PortArgs(%+v) = %v, want %s", tt.in, got, tt.want)
		}
	}
	if err := ValidateProtocols([]v1alpha4.PortMapping{{Protocol: "QUIC"}}); err == nil {
		t.Error("ValidateProtocols accepted QUIC")
	}
}

func TestMountArgs(t *testing.T) {
	got := MountArgs([]v1alpha4.Mount{
		{HostPath: "/a", ContainerPath: "/b"},
		{HostPath: "/c", ContainerPath: "/d", Readonly: true, SelinuxRelabel: true, Propagation: v1alpha4.MountPropagationBidirectional},
		{HostPath: "/e", ContainerPath: "/f", Propagation: v1alpha4.MountPropagationHostToContainer},
	})
	want := []string{"--volume=/a:/b", "--volume=/c:/d:ro,Z,rshared", "--volume=/e:/f:rslave"}
	if !slices.Equal(got, want) {
		t.Errorf("MountArgs = %v, want %v", got, want)
	}
}

func TestResolvePorts(t *testing.T) {
	in := []v1alpha4.PortMapping{
		{ListenAddress: "127.0.0.1", ContainerPort: 6443},
		{ListenAddress: "127.0.0.1", ContainerPort: 80, HostPort: 8080},
		{ContainerPort: 81, HostPort: -1},
	}
	got, release, err := ResolvePorts(in)
	if err != nil {
		t.Fatal(err)
	}
	// The picked port is reserved until release.
	if _, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(got[0].HostPort)))); err == nil {
		t.Errorf("picked port %d was not held", got[0].HostPort)
	}
	release()
	if got[0].HostPort <= 0 || got[1].HostPort != 8080 || got[2].HostPort != -1 {
		t.Errorf("ResolvePorts = %+v", got)
	}
	if in[0].HostPort != 0 {
		t.Error("ResolvePorts modified its input")
	}
}

func TestULASubnet(t *testing.T) {
	// Expected values from kind v0.33.0's network_test.go.
	for name, want := range map[string]string{"kind": "fc00:f853:ccd:e793::/64", "kind2": "fc00:444c:147a:44ab::/64"} {
		if got := ULASubnet(name); got != want {
			t.Errorf("ULASubnet(%q) = %q, want kind's %q", name, got, want)
		}
	}
	got := ULASubnet("kind")
	_, n, err := net.ParseCIDR(got)
	if err != nil || !strings.HasPrefix(got, "fc00:") || !strings.HasSuffix(got, "::/64") {
		t.Fatalf("ULASubnet(kind) = %q (%v), want an fc00::/8 /64", got, err)
	}
	if ones, _ := n.Mask.Size(); ones != 64 || ULASubnet("kind") != got || ULASubnet("other") == got {
		t.Errorf("ULASubnet is not a stable per-name /64: %q", got)
	}
}

func TestLoopbackIfUnspecified(t *testing.T) {
	for in, want := range map[string]string{"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1", "192.168.1.2": "192.168.1.2"} {
		if got := LoopbackIfUnspecified(in); got != want {
			t.Errorf("LoopbackIfUnspecified(%q) = %q, want %q", in, got, want)
		}
	}
}
