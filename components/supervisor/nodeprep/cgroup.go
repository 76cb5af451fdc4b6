package nodeprep

import (
	"path"
	"strings"
)

// CgroupRoot is where cgroup hierarchies are mounted.
const CgroupRoot = "/sys/fs/cgroup"

// CgroupVersion is the cgroup layout a node sees.
type CgroupVersion string

// The cgroup layouts.
const (
	// CgroupNone: nothing is mounted at CgroupRoot.
	CgroupNone CgroupVersion = "none"
	// CgroupV1: v1 hierarchies under CgroupRoot (possibly hybrid, with a
	// v2 hierarchy at unified/).
	CgroupV1 CgroupVersion = "v1"
	// CgroupV2: the unified hierarchy is mounted at CgroupRoot.
	CgroupV2 CgroupVersion = "v2"
)

// CgroupRemount is one v1 hierarchy to mount again read-write:
// `mount -t cgroup -o <Options> cgroup <MountPoint>` after unmounting it.
type CgroupRemount struct {
	// MountPoint is the hierarchy's directory, e.g. /sys/fs/cgroup/memory.
	MountPoint string
	// Options selects the hierarchy: its controllers ("cpu,cpuacct") or,
	// for a named hierarchy, "none,name=systemd".
	Options string
	// Reason says why it is remounted (read-only, a bound subtree).
	Reason string
}

// The v1 mount options that are not controllers.
var cgroupFlagOptions = map[string]bool{"xattr": true, "clone_children": true, "noprefix": true,
	"cpuset_v2_mode": true, "favordynmods": true}

// PlanCgroups decides, from the mounts of the node's mount namespace, which
// cgroup layout it has and which v1 hierarchies must be mounted again: each
// one that is read-only or shows only a subtree (Docker's /docker/<id>
// bind), so that containerd and runc can create cgroups and their paths
// agree with /proc/<pid>/cgroup. A v2 layout is left alone. Hierarchies
// already mounted read-write from their root are skipped, so applying the
// plan twice does nothing the second time.
func PlanCgroups(mounts []Mount) (CgroupVersion, []CgroupRemount) {
	top := map[string]Mount{} // the last mount at a path hides earlier ones
	var order []string
	for _, m := range mounts {
		if _, seen := top[m.MountPoint]; !seen {
			order = append(order, m.MountPoint)
		}
		top[m.MountPoint] = m
	}
	root, ok := top[CgroupRoot]
	if ok && root.FSType == "cgroup2" {
		return CgroupV2, nil
	}
	version := CgroupNone
	var plan []CgroupRemount
	for _, mp := range order {
		m := top[mp]
		if m.FSType != "cgroup" || path.Dir(mp) != CgroupRoot {
			continue
		}
		version = CgroupV1
		var reasons []string
		if m.ReadOnly() {
			reasons = append(reasons, "read-only")
		}
		if m.Root != "/" {
			reasons = append(reasons, "shows only "+m.Root)
		}
		if len(reasons) == 0 {
			continue
		}
		plan = append(plan, CgroupRemount{MountPoint: mp, Options: cgroupOptions(m.SuperOptions), Reason: strings.Join(reasons, ", ")})
	}
	return version, plan
}

// cgroupOptions keeps the super options that select the hierarchy.
func cgroupOptions(super []string) string {
	var opts []string
	controllers := 0
	for _, o := range super {
		switch {
		case o == "rw" || o == "ro" || strings.HasPrefix(o, "release_agent="):
			continue
		case !strings.Contains(o, "=") && !cgroupFlagOptions[o]:
			controllers++
		}
		opts = append(opts, o)
	}
	if controllers == 0 {
		opts = append([]string{"none"}, opts...)
	}
	return strings.Join(opts, ",")
}
