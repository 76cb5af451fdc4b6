package nodeprep

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseMountInfo(t *testing.T) {
	f, err := os.Open("testdata/mountinfo-docker-v1")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mounts, err := ParseMountInfo(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 15 {
		t.Fatalf("got %d mounts, want 15", len(mounts))
	}
	want := Mount{ID: 1106, Parent: 1105, Root: "/docker/5f3c0c0ffee", MountPoint: "/sys/fs/cgroup/systemd",
		Options: []string{"ro", "nosuid", "nodev", "noexec", "relatime"}, Optional: []string{"master:11"},
		FSType: "cgroup", Source: "cgroup", SuperOptions: []string{"rw", "xattr", "name=systemd"}}
	if got := mounts[6]; !reflect.DeepEqual(got, want) {
		t.Errorf("systemd mount:\n got %+v\nwant %+v", got, want)
	}
	if !mounts[6].ReadOnly() || mounts[5].ReadOnly() {
		t.Error("ReadOnly is wrong")
	}
	if got := mounts[14]; got.Root != "/home/user/My Dir" || got.MountPoint != "/mnt/my dir" {
		t.Errorf("escapes not undone: root %q, mount point %q", got.Root, got.MountPoint)
	}
	if len(mounts[1].Optional) != 0 {
		t.Errorf("proc has optional fields %v", mounts[1].Optional)
	}
}

func TestParseMountInfoErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no separator", "1 2 0:1 / / rw shared:1 ext4 /dev/vda rw\n", "line 1: malformed"},
		{"short", "1 2 0:1 / /\n", "malformed"},
		{"ids", "x 2 0:1 / / rw - ext4 /dev/vda rw\n", "mount IDs"},
		{"second line", "1 0 0:1 / / rw - ext4 /dev/vda rw\n2 1 0:2 / /x rw - tmpfs\n", "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMountInfo(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`: "/a b", `/tab\011x`: "/tab\tx", `/back\134slash`: `/back\slash`,
		`/end\04`: `/end\04`, `/not\999`: `/not\999`, `/plain`: "/plain",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
