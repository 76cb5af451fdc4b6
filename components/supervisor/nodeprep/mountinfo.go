// Package nodeprep prepares a Docker container to be a Kubernetes node
// before its programs start: cgroup v1 hierarchies mounted read-write, /
// made rshared, /dev/kmsg, sysctls and the runtime's directories. Every
// step is idempotent and can be skipped, for running outside a node.
package nodeprep

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Mount is one line of /proc/<pid>/mountinfo (see proc(5)).
type Mount struct {
	// ID and Parent are the mount's and its parent's IDs.
	ID, Parent int
	// Root is the path within the filesystem that is mounted (not "/"
	// for bind mounts of a subtree, like Docker's cgroup mounts).
	Root string
	// MountPoint is where it is mounted.
	MountPoint string
	// Options are the per-mount options (rw, nosuid, ...).
	Options []string
	// Optional are the optional fields (shared:N, master:N, ...).
	Optional []string
	// FSType, Source and SuperOptions describe the filesystem.
	FSType, Source string
	SuperOptions   []string
}

// ReadOnly reports whether the mount is read-only.
func (m Mount) ReadOnly() bool {
	for _, o := range m.Options {
		if o == "ro" {
			return true
		}
	}
	return false
}

// ParseMountInfo parses the mountinfo format.
func ParseMountInfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		m, err := parseMountLine(text)
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", line, err)
		}
		mounts = append(mounts, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

func parseMountLine(line string) (Mount, error) {
	fields := strings.Fields(line)
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(fields) < sep+4 {
		return Mount{}, fmt.Errorf("malformed line %q", line)
	}
	var m Mount
	if _, err := fmt.Sscanf(fields[0]+" "+fields[1], "%d %d", &m.ID, &m.Parent); err != nil {
		return Mount{}, fmt.Errorf("malformed mount IDs in %q", line)
	}
	m.Root = unescape(fields[3])
	m.MountPoint = unescape(fields[4])
	m.Options = strings.Split(fields[5], ",")
	m.Optional = fields[6:sep]
	m.FSType = fields[sep+1]
	m.Source = unescape(fields[sep+2])
	m.SuperOptions = strings.Split(fields[sep+3], ",")
	return m, nil
}

// unescape undoes the kernel's octal escapes (\040 for a space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}
