package podruntime

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critest "k8s.io/cri-api/pkg/apis/testing"
)

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "uid-1", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "busybox",
				Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}}}},
		},
	}
}

func TestSandboxConfig(t *testing.T) {
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("# comment\nnameserver 8.8.8.8\nsearch example.com\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	five := "5"
	for _, tc := range []struct {
		name     string
		cfg      Config
		mutate   func(*corev1.Pod)
		servers  []string
		searches []string
		options  []string
		check    func(t *testing.T, c *runtimeapi.PodSandboxConfig)
	}{
		{name: "cluster first", cfg: Config{ClusterDNS: []string{"10.96.0.10"}, ResolvConf: resolv},
			servers: []string{"10.96.0.10"}, searches: []string{"ns.svc.cluster.local", "svc.cluster.local", "cluster.local", "example.com"},
			options: []string{"ndots:5"},
			check: func(t *testing.T, c *runtimeapi.PodSandboxConfig) {
				if c.Hostname != "web" || c.Metadata.Attempt != 2 || c.Labels[LabelPodUID] != "uid-1" || c.Labels["app"] != "web" {
					t.Errorf("metadata/labels: %v %v", c.Metadata, c.Labels)
				}
				if len(c.PortMappings) != 1 || c.PortMappings[0].HostPort != 8080 {
					t.Errorf("port mappings: %v", c.PortMappings)
				}
				if c.LogDirectory != "/var/log/pods/ns_web_uid-1" {
					t.Errorf("log dir %s", c.LogDirectory)
				}
				if c.Linux.CgroupParent != "/kubepods/besteffort/poduid-1" {
					t.Errorf("cgroup parent %q", c.Linux.CgroupParent)
				}
			}},
		{name: "cluster first without cluster DNS uses the node's", cfg: Config{ResolvConf: resolv},
			servers: []string{"8.8.8.8"}, searches: []string{"example.com"}, options: []string{"edns0"}},
		{name: "none with pod config", cfg: Config{ClusterDNS: []string{"10.96.0.10"}, ResolvConf: resolv},
			mutate: func(p *corev1.Pod) {
				p.Spec.DNSPolicy = corev1.DNSNone
				p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.b"},
					Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &five}}}
			},
			servers: []string{"1.1.1.1"}, searches: []string{"a.b"}, options: []string{"ndots:5"}},
		{name: "host network", cfg: Config{ClusterDNS: []string{"10.96.0.10"}, ResolvConf: resolv},
			mutate:  func(p *corev1.Pod) { p.Spec.HostNetwork = true },
			servers: []string{"8.8.8.8"}, searches: []string{"example.com"}, options: []string{"edns0"},
			check: func(t *testing.T, c *runtimeapi.PodSandboxConfig) {
				if c.Hostname != "" || c.Linux.SecurityContext.NamespaceOptions.Network != runtimeapi.NamespaceMode_NODE {
					t.Errorf("host network sandbox: %v", c)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod()
			if tc.mutate != nil {
				tc.mutate(pod)
			}
			cfg := tc.cfg
			cfg.PodLogsDir, cfg.CgroupRoot = "/var/log/pods", "/kubepods"
			c, err := cfg.SandboxConfig(pod, 2)
			if err != nil {
				t.Fatal(err)
			}
			d := c.DnsConfig
			if !reflect.DeepEqual(d.Servers, tc.servers) || !reflect.DeepEqual(d.Searches, tc.searches) || !reflect.DeepEqual(d.Options, tc.options) {
				t.Errorf("dns = %v %v %v; want %v %v %v", d.Servers, d.Searches, d.Options, tc.servers, tc.searches, tc.options)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestResources(t *testing.T) {
	rl := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	for _, tc := range []struct {
		name               string
		req, lim           corev1.ResourceList
		qos                corev1.PodQOSClass
		shares, quota, mem int64
		oom                int64
	}{
		{"best effort", nil, nil, corev1.PodQOSBestEffort, 2, 0, 0, 1000},
		{"guaranteed", rl("cpu", "500m", "memory", "128Mi"), rl("cpu", "500m", "memory", "128Mi"), corev1.PodQOSGuaranteed, 512, 50000, 128 << 20, -997},
		{"limit only", nil, rl("cpu", "2"), corev1.PodQOSGuaranteed, 2048, 200000, 0, -997},
		{"burstable", rl("cpu", "100m", "memory", "1Gi"), nil, corev1.PodQOSBurstable, 102, 0, 0, 750},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod()
			pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: tc.req, Limits: tc.lim}
			if q := QOSClass(pod); tc.name != "limit only" && q != tc.qos {
				t.Errorf("QOS = %s, want %s", q, tc.qos)
			}
			pod.Status.QOSClass = tc.qos
			r := Resources(pod, &pod.Spec.Containers[0], 4<<30)
			if r.CpuShares != tc.shares || r.CpuQuota != tc.quota || r.MemoryLimitInBytes != tc.mem || r.OomScoreAdj != tc.oom || r.CpuPeriod != 100000 {
				t.Errorf("resources = %+v", r)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "x", "B": "y"}
	for in, want := range map[string]string{
		"$(A)": "x", "$(A)$(B)": "xy", "$$(A)": "$(A)", "$(C)": "$(C)", "a$b": "a$b", "$(A": "$(A", "$": "$", "$()": "$()",
	} {
		if got := Expand(in, env); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContainerConfig(t *testing.T) {
	pod := testPod()
	ctr := &pod.Spec.Containers[0]
	ctr.Command = []string{"sh", "-c"}
	ctr.Args = []string{"echo $(GREETING)"}
	ctr.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
	cfg := Config{}
	c := cfg.ContainerConfig(pod, ctr, ContainerOptions{RestartCount: 3,
		Env: []*runtimeapi.KeyValue{{Key: "GREETING", Value: []byte("hi")}}})
	if c.Args[0] != "echo hi" || c.Metadata.Attempt != 3 || c.LogPath != "c/3.log" || c.Annotations[AnnotationRestartCount] != "3" {
		t.Errorf("config = %v", c)
	}
	if got := c.Linux.SecurityContext.Capabilities.AddCapabilities; !reflect.DeepEqual(got, []string{"NET_ADMIN"}) {
		// The CRI takes upstream's names; containerd adds the CAP_ prefix
		// (CAP_CAP_NET_ADMIN would be no capability at all).
		t.Errorf("caps = %v, want [NET_ADMIN]", got)
	}
	if len(c.Linux.SecurityContext.MaskedPaths) == 0 {
		t.Error("no masked paths for an unprivileged container")
	}
	h := Hash(ctr)
	ctr.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	if Hash(ctr) != h {
		t.Error("hash changed with resources")
	}
	ctr.Image = "busybox:2"
	if Hash(ctr) == h {
		t.Error("hash did not change with the image")
	}
}

func TestReader(t *testing.T) {
	rt := critest.NewFakeRuntimeService()
	ctx := t.Context()
	pod := testPod()
	cfg := Config{PodLogsDir: "/var/log/pods"}
	sc, err := cfg.SandboxConfig(pod, 0)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := rt.RunPodSandbox(ctx, sc, "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for run := range int32(3) {
		cc := cfg.ContainerConfig(pod, &pod.Spec.Containers[0], ContainerOptions{RestartCount: run})
		id, err := rt.CreateContainer(ctx, sb, cc, sc)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		rt.Containers[id].State = runtimeapi.ContainerState_CONTAINER_EXITED
		rt.Containers[id].ExitCode = run
	}
	rt.Containers[ids[2]].State = runtimeapi.ContainerState_CONTAINER_RUNNING
	r := NewReader(rt)
	st, err := r.Pod(ctx, pod.UID)
	if err != nil {
		t.Fatal(err)
	}
	if cur := st.Current(); cur == nil || cur.ID != sb || !cur.Ready || len(cur.IPs) == 0 {
		t.Fatalf("current sandbox = %+v", cur)
	}
	if l := st.Latest("c"); l == nil || l.ID != ids[2] || !l.Running() || l.RestartCount != 2 {
		t.Errorf("latest = %+v", l)
	}
	if p := st.Previous("c"); p == nil || p.ID != ids[1] || p.ExitCode != 1 {
		t.Errorf("previous = %+v", p)
	}
	rt.Called = nil
	if _, err := r.Pod(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	for _, call := range rt.GetCalls() {
		if call == "ContainerStatus" {
			t.Errorf("unchanged containers read again: %v", rt.GetCalls())
			break
		}
	}
	other, err := r.Pod(ctx, "other")
	if err != nil || other.Current() != nil || len(other.Containers) != 0 {
		t.Errorf("other pod = %+v, %v", other, err)
	}
}

func TestHosts(t *testing.T) {
	pod := testPod()
	pod.Spec.Hostname, pod.Spec.Subdomain = "h", "sub"
	pod.Spec.HostAliases = []corev1.HostAlias{{IP: "1.2.3.4", Hostnames: []string{"a", "b"}}}
	cfg := Config{RootDir: "/var/lib/kubelet"}
	got := string(cfg.Hosts(pod, []string{"10.244.0.5"}))
	for _, want := range []string{"127.0.0.1\tlocalhost\n", "10.244.0.5\th.sub.ns.svc.cluster.local\th\n", "1.2.3.4\ta\tb\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("hosts file lacks %q:\n%s", want, got)
		}
	}
	if cfg.HostsFile(pod) != "/var/lib/kubelet/pods/uid-1/etc-hosts" {
		t.Errorf("hosts file path %s", cfg.HostsFile(pod))
	}
	c := &pod.Spec.Containers[0]
	if !ManagesHosts(pod, c) {
		t.Error("hosts not managed")
	}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "x", MountPath: "/etc/hosts"}}
	if ManagesHosts(pod, c) {
		t.Error("hosts managed over a mount")
	}
}
