// Package machine reads what a kubelet reports about its node: the CPU and
// memory it may use (the tightest of /proc and the cgroup v1 limits of the
// node container), its disk, identity (machine-id, boot-id, kernel, OS
// image) and its internal IP.
package machine

import (
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Info is what the node has.
type Info struct {
	// MilliCPU is the CPU the node may use, in millicores.
	MilliCPU int64
	// MemoryBytes is the memory the node may use.
	MemoryBytes int64
	// DiskBytes is the size of the filesystem holding the kubelet's root
	// directory (0: unknown).
	DiskBytes int64
	// MachineID, BootID, SystemUUID, KernelVersion and OSImage identify
	// the node in its nodeInfo.
	MachineID, BootID, SystemUUID, KernelVersion, OSImage string
}

// Read reads the node's Info from the filesystem at root ("/" on a node;
// tests pass a fixture) and sizes the disk holding dataDir.
func Read(root, dataDir string) (Info, error) {
	var in Info
	cpus := cpuinfoCount(filepath.Join(root, "proc/cpuinfo"))
	if cpus == 0 {
		cpus = runtime.NumCPU()
	}
	in.MilliCPU = int64(cpus) * 1000
	in.MemoryBytes = memTotal(filepath.Join(root, "proc/meminfo"))
	if in.MemoryBytes == 0 {
		return in, fmt.Errorf("read %s: no MemTotal", filepath.Join(root, "proc/meminfo"))
	}
	dirs := cgroupDirs(root)
	if d, ok := dirs["cpu"]; ok {
		d.walk(func(dir string) {
			quota, ok1 := readInt(filepath.Join(dir, "cpu.cfs_quota_us"))
			period, ok2 := readInt(filepath.Join(dir, "cpu.cfs_period_us"))
			if ok1 && ok2 && quota > 0 && period > 0 {
				in.MilliCPU = min(in.MilliCPU, int64(math.Ceil(float64(quota)*1000/float64(period))))
			}
		})
	}
	if d, ok := dirs["cpuset"]; ok {
		if b, err := os.ReadFile(filepath.Join(d.dir, "cpuset.effective_cpus")); err == nil && cpusetCount(string(b)) > 0 {
			in.MilliCPU = min(in.MilliCPU, int64(cpusetCount(string(b)))*1000)
		} else if b, err := os.ReadFile(filepath.Join(d.dir, "cpuset.cpus")); err == nil && cpusetCount(string(b)) > 0 {
			in.MilliCPU = min(in.MilliCPU, int64(cpusetCount(string(b)))*1000)
		}
	}
	if d, ok := dirs["memory"]; ok {
		d.walk(func(dir string) {
			// An unlimited cgroup reports a huge page-rounded number.
			if limit, ok := readInt(filepath.Join(dir, "memory.limit_in_bytes")); ok && limit > 0 {
				in.MemoryBytes = min(in.MemoryBytes, limit)
			}
		})
	}
	in.MachineID = firstLine(filepath.Join(root, "etc/machine-id"))
	in.BootID = firstLine(filepath.Join(root, "proc/sys/kernel/random/boot_id"))
	in.SystemUUID = firstLine(filepath.Join(root, "sys/class/dmi/id/product_uuid"))
	if in.SystemUUID == "" {
		in.SystemUUID = in.MachineID
	}
	in.KernelVersion = firstLine(filepath.Join(root, "proc/sys/kernel/osrelease"))
	in.OSImage = osImage(filepath.Join(root, "etc/os-release"))
	if dataDir != "" {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dataDir, &st); err == nil {
			in.DiskBytes = int64(st.Blocks) * int64(st.Bsize)
		}
	}
	return in, nil
}

// Capacity is the node's capacity for at most maxPods pods.
func (in Info) Capacity(maxPods int64) corev1.ResourceList {
	l := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(in.MilliCPU, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(in.MemoryBytes, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	if in.DiskBytes > 0 {
		l[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(in.DiskBytes, resource.BinarySI)
	}
	return l
}

// EvictionMemoryBytes is upstream's default hard eviction threshold for
// memory.available, held back from allocatable.
const EvictionMemoryBytes = 100 << 20

// Allocatable is capacity less reserved (kube- and system-reserved) and
// upstream's default hard eviction thresholds (memory.available 100Mi,
// nodefs.available 10%).
func Allocatable(capacity, reserved corev1.ResourceList) corev1.ResourceList {
	out := capacity.DeepCopy()
	sub := func(name corev1.ResourceName, q resource.Quantity) {
		v, ok := out[name]
		if !ok {
			return
		}
		v.Sub(q)
		if v.Sign() < 0 {
			v = *resource.NewQuantity(0, v.Format)
		}
		out[name] = v
	}
	for name, q := range reserved {
		sub(name, q)
	}
	sub(corev1.ResourceMemory, *resource.NewQuantity(EvictionMemoryBytes, resource.BinarySI))
	if disk, ok := capacity[corev1.ResourceEphemeralStorage]; ok {
		sub(corev1.ResourceEphemeralStorage, *resource.NewQuantity(disk.Value()/10, resource.BinarySI))
	}
	return out
}

// NodeIP returns want when set (it must parse), else the first IPv4 of
// the interface iface ("eth0" in a node container), else the first global
// unicast address of any interface.
func NodeIP(want, iface string) (net.IP, error) {
	if want != "" {
		ip := net.ParseIP(want)
		if ip == nil {
			return nil, fmt.Errorf("node IP %q is not an IP address", want)
		}
		return ip, nil
	}
	if i, err := net.InterfaceByName(iface); err == nil {
		if ip := firstIP(i); ip != nil {
			return ip, nil
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		if ip := firstIP(&i); ip != nil {
			return ip, nil
		}
	}
	return nil, fmt.Errorf("no node IP: interface %s has no address and no other interface has a global one; pass --node-ip", iface)
}

// firstIP is the interface's first global unicast address, IPv4 first.
func firstIP(i *net.Interface) net.IP {
	addrs, err := i.Addrs()
	if err != nil {
		return nil
	}
	var v6 net.IP
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || !n.IP.IsGlobalUnicast() {
			continue
		}
		if n.IP.To4() != nil {
			return n.IP.To4()
		}
		if v6 == nil {
			v6 = n.IP
		}
	}
	return v6
}

// cpuinfoCount counts the processors listed in /proc/cpuinfo.
func cpuinfoCount(path string) int {
	n := 0
	forEachLine(path, func(line string) {
		if k, _, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "processor" {
			n++
		}
	})
	return n
}

// memTotal reads MemTotal from /proc/meminfo, in bytes.
func memTotal(path string) int64 {
	var v int64
	forEachLine(path, func(line string) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				v = kb * 1024
			}
		}
	})
	return v
}

// osImage is PRETTY_NAME from os-release.
func osImage(path string) string {
	name := ""
	forEachLine(path, func(line string) {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			name = strings.Trim(v, `"'`)
		}
	})
	if name == "" {
		return "Linux"
	}
	return name
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}
