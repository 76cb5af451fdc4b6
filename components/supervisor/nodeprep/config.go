package nodeprep

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Step names one node preparation step.
type Step string

// The steps, in the order they run.
const (
	// StepCgroups mounts each cgroup v1 hierarchy again read-write.
	StepCgroups Step = "cgroups"
	// StepRShared makes / rshared, so mounts made by containers propagate.
	StepRShared Step = "rshared"
	// StepKmsg makes sure /dev/kmsg exists (the kubelet reads it).
	StepKmsg Step = "kmsg"
	// StepSysctls sets the sysctls a node needs, best effort.
	StepSysctls Step = "sysctls"
	// StepDirectories creates the runtime's and kubelet's directories.
	StepDirectories Step = "directories"
)

// Steps lists every step in order.
var Steps = []Step{StepCgroups, StepRShared, StepKmsg, StepSysctls, StepDirectories}

// DefaultDirectories are created by StepDirectories.
var DefaultDirectories = []string{
	"/var/lib/containerd", "/run/containerd", "/etc/containerd", "/var/lib/kubelet",
	"/etc/kubernetes/manifests", "/etc/cni/net.d", "/opt/cni/bin", "/var/log/pods",
	"/var/log/containers", "/run/kubelab",
}

// Sysctl is one kernel setting.
type Sysctl struct {
	// Key is the dotted name, e.g. net.ipv4.ip_forward.
	Key string
	// Value is written to /proc/sys/<key with dots as slashes>.
	Value string
	// AtLeast only raises a numeric value, never lowers it.
	AtLeast bool
}

// DefaultSysctls are set by StepSysctls. The inotify limits are the ones
// kind recommends; they are not namespaced, so they are only ever raised.
var DefaultSysctls = []Sysctl{
	{Key: "net.ipv4.ip_forward", Value: "1"},
	{Key: "net.ipv6.conf.all.forwarding", Value: "1"},
	{Key: "net.bridge.bridge-nf-call-iptables", Value: "1"},
	{Key: "net.bridge.bridge-nf-call-ip6tables", Value: "1"},
	{Key: "fs.inotify.max_user_watches", Value: "524288", AtLeast: true},
	{Key: "fs.inotify.max_user_instances", Value: "512", AtLeast: true},
}

// Config is the `node:` section of the supervisor config.
type Config struct {
	// Skip lists steps not to run (see Steps).
	Skip []Step `yaml:"skip"`
	// Sysctls are set exactly, after (and over) DefaultSysctls.
	Sysctls map[string]string `yaml:"sysctls"`
	// Directories are created besides DefaultDirectories.
	Directories []string `yaml:"directories"`
}

// Validate checks step names and paths.
func (c Config) Validate() error {
	var bad []string
	for _, s := range c.Skip {
		if !slices.Contains(Steps, s) {
			bad = append(bad, fmt.Sprintf("unknown step %q in skip (steps: %s)", s, stepList()))
		}
	}
	for _, d := range c.Directories {
		if !filepath.IsAbs(d) {
			bad = append(bad, fmt.Sprintf("directory %q must be an absolute path", d))
		}
	}
	for k := range c.Sysctls {
		if k == "" || strings.ContainsAny(k, "/ ") || strings.Contains(k, "..") {
			bad = append(bad, fmt.Sprintf("bad sysctl name %q", k))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

// Skips reports whether step s is skipped.
func (c Config) Skips(s Step) bool { return slices.Contains(c.Skip, s) }

// sysctls is DefaultSysctls with the configured ones applied over them.
func (c Config) sysctls() []Sysctl {
	out := slices.Clone(DefaultSysctls)
	keys := make([]string, 0, len(c.Sysctls))
	for k := range c.Sysctls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		i := slices.IndexFunc(out, func(s Sysctl) bool { return s.Key == k })
		if i >= 0 {
			out[i] = Sysctl{Key: k, Value: c.Sysctls[k]}
		} else {
			out = append(out, Sysctl{Key: k, Value: c.Sysctls[k]})
		}
	}
	return out
}

func stepList() string {
	s := make([]string, len(Steps))
	for i, st := range Steps {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}
