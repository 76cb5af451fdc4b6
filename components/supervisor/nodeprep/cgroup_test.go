package nodeprep

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string) []Mount {
	t.Helper()
	m, err := ParseMountInfo(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPlanCgroups(t *testing.T) {
	docker, err := os.ReadFile("testdata/mountinfo-docker-v1")
	if err != nil {
		t.Fatal(err)
	}
	const root = "1 0 254:0 / / rw - ext4 /dev/vda rw\n"
	tests := []struct {
		name        string
		mountinfo   string
		wantVersion CgroupVersion
		want        []CgroupRemount
	}{
		{
			name:        "docker non-privileged v1",
			mountinfo:   string(docker),
			wantVersion: CgroupV1,
			want: []CgroupRemount{
				{MountPoint: "/sys/fs/cgroup/systemd", Options: "none,xattr,name=systemd", Reason: "read-only, shows only /docker/5f3c0c0ffee"},
				{MountPoint: "/sys/fs/cgroup/cpu,cpuacct", Options: "cpu,cpuacct", Reason: "read-only, shows only /docker/5f3c0c0ffee"},
				{MountPoint: "/sys/fs/cgroup/memory", Options: "memory", Reason: "read-only, shows only /docker/5f3c0c0ffee"},
				{MountPoint: "/sys/fs/cgroup/rdma", Options: "rdma", Reason: "read-only"},
				{MountPoint: "/sys/fs/cgroup/net_cls,net_prio", Options: "net_cls,net_prio", Reason: "shows only /docker/5f3c0c0ffee"},
			},
		},
		{
			name: "already remounted read-write: nothing to do",
			mountinfo: root +
				"2 1 0:28 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n" +
				"3 2 0:29 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,name=systemd\n" +
				"4 2 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory\n",
			wantVersion: CgroupV1,
		},
		{
			name: "stacked mounts: the top one counts",
			mountinfo: root +
				"2 1 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
				"3 2 0:30 /docker/x /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n" +
				"4 3 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
				"5 2 0:31 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n" +
				"6 5 0:31 /docker/x /sys/fs/cgroup/pids ro - cgroup cgroup rw,pids\n",
			wantVersion: CgroupV1,
			want:        []CgroupRemount{{MountPoint: "/sys/fs/cgroup/pids", Options: "pids", Reason: "read-only, shows only /docker/x"}},
		},
		{
			name: "hybrid host: v2 at unified is left alone",
			mountinfo: root +
				"2 1 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
				"3 2 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n" +
				"4 2 0:30 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
			wantVersion: CgroupV1,
		},
		{
			name: "cgroup v2",
			mountinfo: root +
				"2 1 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n",
			wantVersion: CgroupV2,
		},
		{
			name:        "no cgroups",
			mountinfo:   root,
			wantVersion: CgroupNone,
		},
		{
			name: "nested cgroup mounts elsewhere are ignored",
			mountinfo: root +
				"2 1 0:30 /x /sys/fs/cgroup/memory/kubelet ro - cgroup cgroup rw,memory\n" +
				"3 1 0:30 /x /mnt/memory ro - cgroup cgroup rw,memory\n",
			wantVersion: CgroupNone,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version, plan := PlanCgroups(mustParse(t, tt.mountinfo))
			if version != tt.wantVersion {
				t.Errorf("version %s, want %s", version, tt.wantVersion)
			}
			if !reflect.DeepEqual(plan, tt.want) {
				t.Errorf("plan:\n got %+v\nwant %+v", plan, tt.want)
			}
		})
	}
}
