// Package volumes sets up a pod's volumes on the node, under
// <root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name> as upstream's
// kubelet: emptyDir (a directory, or tmpfs for medium Memory), hostPath
// (with its type checks), and configMap, secret, downwardAPI and projected
// volumes written atomically and refreshed when their sources change. It
// also turns a container's volumeMounts into CRI mounts.
package volumes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kubelab/kubelab/components/kubelet/envvars"
)

// Objects reads the config maps and secrets volumes project (the same
// reader the environment uses).
type Objects = envvars.Objects

// Mounter mounts and unmounts tmpfs for memory-backed emptyDirs.
type Mounter interface {
	MountTmpfs(dir, size string) error
	Unmount(dir string) error
	IsMountPoint(dir string) bool
}

// Volume is a set-up volume.
type Volume struct {
	// Path is the host directory (or file, for hostPath) to mount.
	Path string
	// ReadOnly is set for volumes containers may not write
	// (configMap, secret, downwardAPI, projected).
	ReadOnly bool
}

// SetupError is a volume that cannot be set up (a missing config map, a
// hostPath of the wrong type): the pod waits in ContainerCreating with a
// FailedMount event.
type SetupError struct {
	Volume string
	Err    error
}

// Error is upstream's FailedMount message.
func (e *SetupError) Error() string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", e.Volume, e.Err)
}

// Unwrap returns the cause.
func (e *SetupError) Unwrap() error { return e.Err }

// Manager sets volumes up and tears them down.
type Manager struct {
	// RootDir is the kubelet's root directory.
	RootDir string
	Objects Objects
	// Mounter mounts tmpfs; nil makes memory emptyDirs plain directories.
	Mounter Mounter
}

// PodDir is the pod's directory.
func (m *Manager) PodDir(uid types.UID) string { return filepath.Join(m.RootDir, "pods", string(uid)) }

// dir is a volume's directory.
func (m *Manager) dir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.PodDir(uid), "volumes", "kubernetes.io~"+plugin, name)
}

// Setup makes every volume of the pod ready (idempotent: run it on each
// sync to refresh projected content) and returns them by name. dp
// supplies the downward API's pod fields.
func (m *Manager) Setup(ctx context.Context, dp envvars.Pod) (map[string]Volume, error) {
	pod := dp.Pod
	out := make(map[string]Volume, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		vol, err := m.setup(ctx, dp, &v)
		if err != nil {
			var se *SetupError
			if errors.As(err, &se) {
				return nil, err
			}
			return nil, &SetupError{Volume: v.Name, Err: err}
		}
		out[v.Name] = vol
	}
	return out, nil
}

func (m *Manager) setup(ctx context.Context, dp envvars.Pod, v *corev1.Volume) (Volume, error) {
	pod := dp.Pod
	src := v.VolumeSource
	switch {
	case src.EmptyDir != nil:
		dir := m.dir(pod.UID, "empty-dir", v.Name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return Volume{}, err
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			return Volume{}, err
		}
		if src.EmptyDir.Medium == corev1.StorageMediumMemory && m.Mounter != nil && !m.Mounter.IsMountPoint(dir) {
			size := ""
			if src.EmptyDir.SizeLimit != nil && !src.EmptyDir.SizeLimit.IsZero() {
				size = fmt.Sprint(src.EmptyDir.SizeLimit.Value())
			}
			if err := m.Mounter.MountTmpfs(dir, size); err != nil {
				return Volume{}, fmt.Errorf("mount tmpfs: %w", err)
			}
		}
		return Volume{Path: dir}, nil
	case src.HostPath != nil:
		return Volume{Path: src.HostPath.Path}, checkHostPath(src.HostPath)
	case src.ConfigMap != nil, src.Secret != nil, src.DownwardAPI != nil, src.Projected != nil:
		plugin, payload, err := m.payload(ctx, dp, v)
		if err != nil {
			return Volume{}, err
		}
		dir := m.dir(pod.UID, plugin, v.Name)
		if _, err := writeAtomic(dir, payload); err != nil {
			return Volume{}, fmt.Errorf("write volume: %w", err)
		}
		return Volume{Path: dir, ReadOnly: true}, nil
	}
	return Volume{}, fmt.Errorf("volume type not supported by kubelab's kubelet")
}

// checkHostPath creates or checks a hostPath as its type says.
func checkHostPath(h *corev1.HostPathVolumeSource) error {
	t := corev1.HostPathUnset
	if h.Type != nil {
		t = *h.Type
	}
	info, err := os.Stat(h.Path)
	exists := err == nil
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			return os.MkdirAll(h.Path, 0o755)
		}
		if !info.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", h.Path)
		}
	case corev1.HostPathFileOrCreate:
		if !exists {
			if err := os.MkdirAll(filepath.Dir(h.Path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		if info.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is a directory", h.Path)
		}
	case corev1.HostPathDirectory:
		if !exists || !info.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", h.Path)
		}
	case corev1.HostPathFile:
		if !exists || !info.Mode().IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", h.Path)
		}
	case corev1.HostPathSocket:
		if !exists || info.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", h.Path)
		}
	case corev1.HostPathCharDev:
		if !exists || info.Mode()&os.ModeCharDevice == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", h.Path)
		}
	case corev1.HostPathBlockDev:
		if !exists || info.Mode()&os.ModeDevice == 0 || info.Mode()&os.ModeCharDevice != 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", h.Path)
		}
	}
	return nil
}

// Teardown unmounts and removes the pod's volumes and directory.
func (m *Manager) Teardown(uid types.UID) error {
	dir := filepath.Join(m.PodDir(uid), "volumes", "kubernetes.io~empty-dir")
	if m.Mounter != nil {
		if entries, err := os.ReadDir(dir); err == nil {
			for _, e := range entries {
				p := filepath.Join(dir, e.Name())
				if m.Mounter.IsMountPoint(p) {
					if err := m.Mounter.Unmount(p); err != nil {
						return fmt.Errorf("unmount %s: %w", p, err)
					}
				}
			}
		}
	}
	if err := os.RemoveAll(m.PodDir(uid)); err != nil {
		return fmt.Errorf("remove pod directory: %w", err)
	}
	return nil
}

// Mounts are container c's volume mounts as CRI mounts.
func Mounts(c *corev1.Container, vols map[string]Volume) ([]*runtimeapi.Mount, error) {
	var out []*runtimeapi.Mount
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("container %s mounts volume %q, which the pod does not have", c.Name, vm.Name)
		}
		host := v.Path
		if vm.SubPath != "" {
			if !validPath(filepath.Clean(vm.SubPath)) || strings.Contains(vm.SubPath, "..") {
				return nil, fmt.Errorf("container %s: invalid subPath %q", c.Name, vm.SubPath)
			}
			host = filepath.Join(host, vm.SubPath)
			if _, err := os.Stat(host); os.IsNotExist(err) && !v.ReadOnly {
				if err := os.MkdirAll(host, 0o777); err != nil {
					return nil, fmt.Errorf("container %s: create subPath %s: %w", c.Name, vm.SubPath, err)
				}
			}
			if resolved, err := filepath.EvalSymlinks(host); err == nil {
				host = resolved
			}
		}
		m := &runtimeapi.Mount{ContainerPath: vm.MountPath, HostPath: host, Readonly: vm.ReadOnly || v.ReadOnly}
		if vm.MountPropagation != nil {
			switch *vm.MountPropagation {
			case corev1.MountPropagationHostToContainer:
				m.Propagation = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
			case corev1.MountPropagationBidirectional:
				m.Propagation = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
			}
		}
		out = append(out, m)
	}
	return out, nil
}
