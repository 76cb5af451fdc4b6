package machine

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroupDirs returns, for each cgroup v1 controller, the directory of this
// process's cgroup and the mount point of its hierarchy, read from
// /proc/self/cgroup and /proc/self/mountinfo under root. A hierarchy
// mounted whole (the node supervisor remounts them read-write) and one
// mounted at the container's own cgroup (Docker's default) both work.
func cgroupDirs(root string) map[string]cgroupDir { return cgroupDirsOf(root, "self") }

// cgroupDirsOf is cgroupDirs for process pid ("self" or a number).
func cgroupDirsOf(root, pid string) map[string]cgroupDir {
	paths := map[string]string{}
	forEachLine(filepath.Join(root, "proc", pid, "cgroup"), func(line string) {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			return
		}
		for _, c := range strings.Split(parts[1], ",") {
			paths[c] = parts[2]
		}
	})
	dirs := map[string]cgroupDir{}
	forEachLine(filepath.Join(root, "proc/self/mountinfo"), func(line string) {
		// id parent major:minor root mountpoint options... - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			return
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || g[0] != "cgroup" {
			return
		}
		for _, opt := range strings.Split(g[2], ",") {
			p, ok := paths[opt]
			if !ok {
				continue
			}
			mountRoot, mountPoint := f[3], filepath.Join(root, f[4])
			rel, err := filepath.Rel(mountRoot, p)
			if err != nil || strings.HasPrefix(rel, "..") {
				rel = "." // our cgroup is outside the mounted subtree
			}
			dirs[opt] = cgroupDir{mount: mountPoint, dir: filepath.Join(mountPoint, rel), rel: rel}
		}
	})
	return dirs
}

// cgroupDir is a process's cgroup directory within its hierarchy's mount
// (rel is the directory relative to the mount point).
type cgroupDir struct{ mount, dir, rel string }

// NodeCgroup is the cgroup of the node's init process (PID 1: the node
// container's cgroup) in the memory hierarchy, relative to where that
// hierarchy is mounted: the path runtimes resolve cgroup parents against.
// It is "/" when the node owns the whole hierarchy.
func NodeCgroup(root string) string {
	d, ok := cgroupDirsOf(root, "1")["memory"]
	if !ok || d.rel == "." {
		return "/"
	}
	return "/" + d.rel
}

// walk calls f for dir and each ancestor up to the mount point.
func (c cgroupDir) walk(f func(dir string)) {
	d := c.dir
	for {
		f(d)
		if d == c.mount || len(d) <= len(c.mount) {
			return
		}
		d = filepath.Dir(d)
	}
}

// readInt reads a file holding one integer.
func readInt(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}

// forEachLine calls f for each line of path (nothing when it is missing).
func forEachLine(path string, f func(string)) {
	file, err := os.Open(path)
	if err != nil {
		return
	}
	defer file.Close()
	s := bufio.NewScanner(file)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		f(s.Text())
	}
}

// cpusetCount counts the CPUs of a cpuset list such as "0-3,8".
func cpusetCount(list string) int {
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(list), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				continue
			}
		}
		n += b - a + 1
	}
	return n
}
