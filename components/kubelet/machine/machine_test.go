package machine

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// fixture writes files (path -> content) under a temporary root.
func fixture(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const cpuinfo4 = "processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\n\nprocessor\t: 2\n\nprocessor\t: 3\n"

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]string
		milliCPU int64
		memory   int64
	}{
		{
			name: "no cgroup limits",
			files: map[string]string{
				"proc/cpuinfo": cpuinfo4, "proc/meminfo": "MemTotal:       8000000 kB\nMemFree: 1 kB\n",
			},
			milliCPU: 4000, memory: 8000000 * 1024,
		},
		{
			// Docker mounts each hierarchy at the container's own cgroup.
			name: "docker mounts the container cgroup",
			files: map[string]string{
				"proc/cpuinfo": cpuinfo4, "proc/meminfo": "MemTotal: 8000000 kB\n",
				"proc/self/cgroup": "4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n3:cpuset:/docker/abc\n",
				"proc/self/mountinfo": "32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n" +
					"35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
					"36 31 0:33 /docker/abc /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n",
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":  "150000\n",
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes":  "2147483648\n",
				"sys/fs/cgroup/cpuset/cpuset.cpus":            "0-2\n",
			},
			milliCPU: 1500, memory: 2 << 30,
		},
		{
			// The supervisor remounts whole hierarchies: the limit is on
			// the container's cgroup below the root, the root unlimited.
			name: "whole hierarchy remounted",
			files: map[string]string{
				"proc/cpuinfo": cpuinfo4, "proc/meminfo": "MemTotal: 8000000 kB\n",
				"proc/self/cgroup": "4:memory:/docker/abc/kubelet\n1:cpu:/docker/abc/kubelet\n3:cpuset:/\n",
				"proc/self/mountinfo": "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n" +
					"35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
					"36 31 0:33 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n",
				"sys/fs/cgroup/cpu/cpu.cfs_quota_us":                            "-1\n",
				"sys/fs/cgroup/cpu/cpu.cfs_period_us":                           "100000\n",
				"sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us":                 "200000\n",
				"sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us":                "100000\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes":                    "9223372036854771712\n",
				"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes":         "1073741824\n",
				"sys/fs/cgroup/memory/docker/abc/kubelet/memory.limit_in_bytes": "9223372036854771712\n",
				"sys/fs/cgroup/cpuset/cpuset.cpus":                              "0-7\n",
			},
			milliCPU: 2000, memory: 1 << 30,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fixture(t, tc.files)
			in, err := Read(root, "")
			if err != nil {
				t.Fatal(err)
			}
			if in.MilliCPU != tc.milliCPU || in.MemoryBytes != tc.memory {
				t.Errorf("Read = cpu %dm memory %d; want %dm %d", in.MilliCPU, in.MemoryBytes, tc.milliCPU, tc.memory)
			}
		})
	}
}

func TestReadIdentity(t *testing.T) {
	root := fixture(t, map[string]string{
		"proc/cpuinfo": cpuinfo4, "proc/meminfo": "MemTotal: 1000 kB\n",
		"etc/machine-id": "abc123\n", "proc/sys/kernel/random/boot_id": "boot-1\n",
		"proc/sys/kernel/osrelease": "6.1.0-13-amd64\n",
		"etc/os-release":            "NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
	})
	in, err := Read(root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if in.MachineID != "abc123" || in.SystemUUID != "abc123" || in.BootID != "boot-1" ||
		in.KernelVersion != "6.1.0-13-amd64" || in.OSImage != "Debian GNU/Linux 12 (bookworm)" || in.DiskBytes <= 0 {
		t.Errorf("identity = %+v", in)
	}
	if _, err := Read(fixture(t, map[string]string{"proc/cpuinfo": cpuinfo4}), ""); err == nil {
		t.Error("Read without meminfo succeeded")
	}
}

func TestAllocatable(t *testing.T) {
	in := Info{MilliCPU: 2000, MemoryBytes: 4 << 30, DiskBytes: 100 << 30}
	capacity := in.Capacity(110)
	got := Allocatable(capacity, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")})
	want := map[corev1.ResourceName]string{
		corev1.ResourceCPU: "1900m", corev1.ResourceMemory: "3996Mi", corev1.ResourcePods: "110",
		corev1.ResourceEphemeralStorage: "92160Mi",
	}
	for name, w := range want {
		q := got[name]
		if q.Cmp(resource.MustParse(w)) != 0 {
			t.Errorf("allocatable %s = %s, want %s", name, q.String(), w)
		}
	}
	if c := capacity[corev1.ResourceMemory]; c.String() != "4Gi" {
		t.Errorf("capacity changed: %s", c.String())
	}
}

func TestCpusetCount(t *testing.T) {
	for in, want := range map[string]int{"0-3": 4, "0,2,4-5\n": 4, "": 0, "7": 1, "x": 0} {
		if got := cpusetCount(in); got != want {
			t.Errorf("cpusetCount(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestNodeIP(t *testing.T) {
	if ip, err := NodeIP("10.1.2.3", "eth0"); err != nil || ip.String() != "10.1.2.3" {
		t.Errorf("NodeIP(explicit) = %v, %v", ip, err)
	}
	if _, err := NodeIP("nope", "eth0"); err == nil {
		t.Error("bad --node-ip accepted")
	}
}

func TestNodeCgroup(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"whole hierarchy", map[string]string{
			"proc/1/cgroup":       "4:memory:/docker/abc\n",
			"proc/self/mountinfo": "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
		}, "/docker/abc"},
		{"container subtree mounted", map[string]string{
			"proc/1/cgroup":       "4:memory:/docker/abc\n",
			"proc/self/mountinfo": "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
		}, "/"},
		{"no memory hierarchy", map[string]string{}, "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NodeCgroup(fixture(t, tc.files)); got != tc.want {
				t.Errorf("NodeCgroup = %q, want %q", got, tc.want)
			}
		})
	}
}
