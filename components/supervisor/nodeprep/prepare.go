package nodeprep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Prepare runs every step of cfg that is not skipped, in order, on this
// machine. Mount steps and directories must succeed; /dev/kmsg and sysctls
// are best effort and only warn. It needs root (CAP_SYS_ADMIN) for mounts
// and is meant for a node container, never a host.
func Prepare(ctx context.Context, cfg Config, log *slog.Logger) error {
	return newPreparer(cfg, log).run(ctx)
}

// preparer holds the paths and syscalls the steps use, so tests can point
// them elsewhere.
type preparer struct {
	cfg       Config
	log       *slog.Logger
	mountinfo string // /proc/self/mountinfo
	procSys   string // /proc/sys
	dev       string // /dev
	root      string // prefix of created directories ("" in a node)
	mount     func(source, target, fstype string, flags uintptr, data string) error
	unmount   func(target string, flags int) error
	mknod     func(path string, mode uint32, dev int) error
}

func newPreparer(cfg Config, log *slog.Logger) *preparer {
	if log == nil {
		log = slog.Default()
	}
	return &preparer{cfg: cfg, log: log, mountinfo: "/proc/self/mountinfo", procSys: "/proc/sys", dev: "/dev",
		mount: unix.Mount, unmount: unix.Unmount, mknod: unix.Mknod}
}

func (p *preparer) run(ctx context.Context) error {
	steps := map[Step]func() error{StepCgroups: p.cgroups, StepRShared: p.rshared, StepKmsg: p.kmsg,
		StepSysctls: p.sysctls, StepDirectories: p.directories}
	for _, s := range Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if p.cfg.Skips(s) {
			p.log.Info("node preparation step skipped", "step", s)
			continue
		}
		if err := steps[s](); err != nil {
			return fmt.Errorf("prepare node: %s: %w", s, err)
		}
	}
	return nil
}

// cgroups mounts each v1 hierarchy that needs it again read-write.
func (p *preparer) cgroups() error {
	f, err := os.Open(p.mountinfo)
	if err != nil {
		return err
	}
	mounts, err := ParseMountInfo(f)
	f.Close()
	if err != nil {
		return err
	}
	version, plan := PlanCgroups(mounts)
	// Never log the phrase kind waits for ("detected cgroup v1"): kind
	// would take it as the node being up before containerd is.
	p.log.Info("cgroup layout", "version", string(version), "hierarchiesToRemount", len(plan))
	for _, r := range plan {
		if err := p.unmount(r.MountPoint, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s (%s): %w", r.MountPoint, r.Reason, err)
		}
		const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME
		if err := p.mount("cgroup", r.MountPoint, "cgroup", flags, r.Options); err != nil {
			return fmt.Errorf("mount -t cgroup -o %s cgroup %s: %w", r.Options, r.MountPoint, err)
		}
		p.log.Info("cgroup hierarchy mounted read-write", "mountPoint", r.MountPoint, "options", r.Options, "was", r.Reason)
	}
	return nil
}

// rshared is `mount --make-rshared /`.
func (p *preparer) rshared() error {
	if err := p.mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		return fmt.Errorf("mount --make-rshared /: %w", err)
	}
	p.log.Info("made / rshared")
	return nil
}

// kmsg makes /dev/kmsg exist, as kind's entrypoint does: a link to
// /dev/console, else the real character device (1:11) where the device
// cgroup allows it, else a link to /dev/null.
func (p *preparer) kmsg() error {
	kmsg := filepath.Join(p.dev, "kmsg")
	if _, err := os.Lstat(kmsg); err == nil {
		return nil
	}
	console := filepath.Join(p.dev, "console")
	if _, err := os.Stat(console); err == nil {
		if err := os.Symlink(console, kmsg); err == nil {
			p.log.Info("linked /dev/kmsg", "to", console)
			return nil
		}
	}
	if err := p.mknod(kmsg, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 11))); err == nil {
		p.log.Info("created /dev/kmsg", "device", "1:11")
		return nil
	}
	null := filepath.Join(p.dev, "null")
	if err := os.Symlink(null, kmsg); err != nil {
		p.log.Warn("no /dev/kmsg: the kubelet's OOM watcher will complain", "err", err)
		return nil
	}
	p.log.Info("linked /dev/kmsg", "to", null)
	return nil
}

// sysctls sets each sysctl it can and warns about the others.
func (p *preparer) sysctls() error {
	for _, s := range p.cfg.sysctls() {
		file := filepath.Join(p.procSys, strings.ReplaceAll(s.Key, ".", "/"))
		cur, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			if strings.HasPrefix(s.Key, "net.bridge.") {
				p.log.Info("sysctl not available (is br_netfilter loaded on the host?)", "key", s.Key)
			} else {
				p.log.Warn("sysctl not available", "key", s.Key)
			}
			continue
		}
		current := strings.TrimSpace(string(cur))
		if current == s.Value || s.AtLeast && atLeast(current, s.Value) {
			continue
		}
		if err := os.WriteFile(file, []byte(s.Value), 0o644); err != nil {
			p.log.Warn("could not set sysctl", "key", s.Key, "value", s.Value, "current", current, "err", err)
			continue
		}
		p.log.Info("set sysctl", "key", s.Key, "value", s.Value, "was", current)
	}
	return nil
}

func atLeast(current, want string) bool {
	c, err1 := strconv.ParseInt(current, 10, 64)
	w, err2 := strconv.ParseInt(want, 10, 64)
	return err1 == nil && err2 == nil && c >= w
}

// directories creates the default and configured directories.
func (p *preparer) directories() error {
	for _, d := range slices.Concat(DefaultDirectories, p.cfg.Directories) {
		if err := os.MkdirAll(filepath.Join(p.root, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}
