package volumes

import (
	"os"
	"path/filepath"
	"syscall"
)

// SystemMounter mounts with the mount(2) system call.
type SystemMounter struct{}

var _ Mounter = SystemMounter{}

// MountTmpfs mounts a tmpfs at dir, of size bytes when size is set.
func (SystemMounter) MountTmpfs(dir, size string) error {
	data := "mode=0777"
	if size != "" {
		data += ",size=" + size
	}
	return syscall.Mount("tmpfs", dir, "tmpfs", 0, data)
}

// Unmount unmounts dir.
func (SystemMounter) Unmount(dir string) error { return syscall.Unmount(dir, 0) }

// IsMountPoint reports whether dir is on another device than its parent.
func (SystemMounter) IsMountPoint(dir string) bool {
	a, err1 := os.Stat(dir)
	b, err2 := os.Stat(filepath.Dir(dir))
	if err1 != nil || err2 != nil {
		return false
	}
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Dev != sb.Dev
}
