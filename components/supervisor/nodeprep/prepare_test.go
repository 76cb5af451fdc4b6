package nodeprep

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeNode is a preparer whose mounts are recorded and whose /proc/sys,
// /dev and directories live in a temp dir.
type fakeNode struct {
	*preparer
	calls []string
}

func newFakeNode(t *testing.T, cfg Config, mountinfo string) *fakeNode {
	t.Helper()
	dir := t.TempDir()
	p := newPreparer(cfg, slog.New(slog.DiscardHandler))
	f := &fakeNode{preparer: p}
	p.mountinfo = filepath.Join(dir, "mountinfo")
	p.procSys = filepath.Join(dir, "sys")
	p.dev = filepath.Join(dir, "dev")
	p.root = filepath.Join(dir, "root")
	for _, d := range []string{p.procSys, p.dev, p.root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(p.mountinfo, []byte(mountinfo), 0o644); err != nil {
		t.Fatal(err)
	}
	p.unmount = func(target string, flags int) error {
		f.calls = append(f.calls, fmt.Sprintf("umount %s %#x", target, flags))
		return nil
	}
	p.mount = func(source, target, fstype string, flags uintptr, data string) error {
		f.calls = append(f.calls, fmt.Sprintf("mount %s %s %s %#x %s", source, target, fstype, flags, data))
		if fstype == "cgroup" { // what the kernel would now show
			line := fmt.Sprintf("99 1 0:99 / %s rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,%s\n", target, data)
			fh, err := os.OpenFile(p.mountinfo, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer fh.Close()
			_, err = fh.WriteString(line)
			return err
		}
		return nil
	}
	p.mknod = func(path string, mode uint32, dev int) error { return errors.New("mknod: operation not permitted") }
	return f
}

func (f *fakeNode) sysctl(t *testing.T, key, value string) {
	t.Helper()
	file := filepath.Join(f.procSys, strings.ReplaceAll(key, ".", "/"))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(value+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeNode) readSysctl(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.procSys, strings.ReplaceAll(key, ".", "/")))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return strings.TrimSpace(string(b))
}

func TestPrepareCgroupsIdempotent(t *testing.T) {
	const mountinfo = "1 0 254:0 / / rw - ext4 /dev/vda rw\n" +
		"2 1 0:28 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n" +
		"3 2 0:29 /docker/x /sys/fs/cgroup/systemd ro,nosuid - cgroup cgroup rw,name=systemd\n" +
		"4 2 0:30 /docker/x /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n" +
		"5 2 0:31 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids\n"
	f := newFakeNode(t, Config{Skip: []Step{StepKmsg, StepSysctls, StepDirectories}}, mountinfo)
	if err := f.run(t.Context()); err != nil {
		t.Fatal(err)
	}
	flags := fmt.Sprintf("%#x", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RELATIME)
	want := []string{
		fmt.Sprintf("umount /sys/fs/cgroup/systemd %#x", unix.MNT_DETACH),
		"mount cgroup /sys/fs/cgroup/systemd cgroup " + flags + " none,name=systemd",
		fmt.Sprintf("umount /sys/fs/cgroup/cpu,cpuacct %#x", unix.MNT_DETACH),
		"mount cgroup /sys/fs/cgroup/cpu,cpuacct cgroup " + flags + " cpu,cpuacct",
		fmt.Sprintf("mount  /  %#x ", unix.MS_REC|unix.MS_SHARED),
	}
	if !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
	f.calls = nil
	if err := f.run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if want := want[len(want)-1:]; !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("second run made calls %q, want only %q", f.calls, want)
	}
}

// TestPrepareNeverLogsKindsPattern: kind takes a log line matching this
// as "the node is up"; node preparation runs long before that.
func TestPrepareNeverLogsKindsPattern(t *testing.T) {
	mountinfo, err := os.ReadFile("testdata/mountinfo-docker-v1")
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeNode(t, Config{}, string(mountinfo))
	var logs bytes.Buffer
	f.log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := f.run(t.Context()); err != nil {
		t.Fatal(err)
	}
	kind := regexp.MustCompile(`Reached target .*Multi-User System.*|detected cgroup v1`)
	if !strings.Contains(logs.String(), `"version":"v1"`) || kind.MatchString(logs.String()) {
		t.Errorf("logs:\n%s", logs.String())
	}
}

func TestPrepareMountErrors(t *testing.T) {
	const mountinfo = "1 0 254:0 / / rw - ext4 /dev/vda rw\n" +
		"3 1 0:30 / /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
	f := newFakeNode(t, Config{}, mountinfo)
	f.mount = func(string, string, string, uintptr, string) error { return unix.EPERM }
	err := f.run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "prepare node: cgroups: mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory: operation not permitted") {
		t.Fatalf("error %v", err)
	}
	f = newFakeNode(t, Config{Skip: []Step{StepCgroups}}, mountinfo)
	f.mount = func(string, string, string, uintptr, string) error { return unix.EPERM }
	err = f.run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "prepare node: rshared: mount --make-rshared /: operation not permitted") {
		t.Fatalf("error %v", err)
	}
	f = newFakeNode(t, Config{}, "garbage\n")
	if err := f.run(t.Context()); err == nil || !strings.Contains(err.Error(), "cgroups: mountinfo line 1") {
		t.Fatalf("error %v", err)
	}
}

func TestPrepareKmsg(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(f *fakeNode) error
		mknodOK  bool
		wantLink string // "" for a device
	}{
		{"console", func(f *fakeNode) error { return os.WriteFile(filepath.Join(f.dev, "console"), nil, 0o644) }, true, "console"},
		{"char device", nil, true, ""},
		{"null", nil, false, "null"},
		{"exists", func(f *fakeNode) error { return os.WriteFile(filepath.Join(f.dev, "kmsg"), []byte("x"), 0o644) }, false, ""},
	}
	only := Config{Skip: []Step{StepCgroups, StepRShared, StepSysctls, StepDirectories}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeNode(t, only, "")
			if tt.setup != nil {
				if err := tt.setup(f); err != nil {
					t.Fatal(err)
				}
			}
			var made bool
			if tt.mknodOK {
				f.mknod = func(path string, mode uint32, dev int) error {
					made = mode == unix.S_IFCHR|0o644 && dev == int(unix.Mkdev(1, 11))
					return os.WriteFile(path, nil, 0o644)
				}
			}
			if err := f.run(t.Context()); err != nil {
				t.Fatal(err)
			}
			target, err := os.Readlink(filepath.Join(f.dev, "kmsg"))
			switch {
			case tt.wantLink != "" && target != filepath.Join(f.dev, tt.wantLink):
				t.Errorf("kmsg links to %q (%v), want %s", target, err, tt.wantLink)
			case tt.wantLink == "" && err == nil:
				t.Errorf("kmsg is a link to %q", target)
			case tt.name == "char device" && !made:
				t.Error("mknod not called with c 1 11")
			}
		})
	}
}

func TestPrepareSysctlsAndDirectories(t *testing.T) {
	cfg := Config{
		Skip:        []Step{StepCgroups, StepRShared, StepKmsg},
		Sysctls:     map[string]string{"net.ipv4.conf.all.rp_filter": "0", "fs.inotify.max_user_watches": "100"},
		Directories: []string{"/var/lib/extra"},
	}
	f := newFakeNode(t, cfg, "")
	f.sysctl(t, "net.ipv4.ip_forward", "0")
	f.sysctl(t, "fs.inotify.max_user_instances", "8192") // higher than the default minimum
	f.sysctl(t, "fs.inotify.max_user_watches", "8192")
	f.sysctl(t, "net.ipv4.conf.all.rp_filter", "1")
	if err := f.run(t.Context()); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":                "1",
		"fs.inotify.max_user_instances":      "8192", // never lowered
		"fs.inotify.max_user_watches":        "100",  // configured exactly
		"net.ipv4.conf.all.rp_filter":        "0",
		"net.bridge.bridge-nf-call-iptables": "<open " + filepath.Join(f.procSys, "net/bridge/bridge-nf-call-iptables") + ": no such file or directory>",
	} {
		if got := f.readSysctl(t, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	for _, d := range slices.Concat(DefaultDirectories, cfg.Directories) {
		if st, err := os.Stat(filepath.Join(f.root, d)); err != nil || !st.IsDir() {
			t.Errorf("directory %s: %v", d, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty", Config{}, ""},
		{"all steps", Config{Skip: Steps}, ""},
		{"unknown step", Config{Skip: []Step{"cgroup"}}, `unknown step "cgroup" in skip (steps: cgroups, rshared, kmsg, sysctls, directories)`},
		{"relative directory", Config{Directories: []string{"var/lib"}}, `directory "var/lib" must be an absolute path`},
		{"bad sysctl", Config{Sysctls: map[string]string{"net/ipv4": "1"}}, `bad sysctl name "net/ipv4"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
