package podruntime

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Paths a non-privileged container cannot see or write, as upstream.
var (
	defaultMaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
		"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// ContainerOptions are what the kubelet resolved for one container run.
type ContainerOptions struct {
	// Env is the container's environment, resolved and in order.
	Env []*runtimeapi.KeyValue
	// Mounts are the container's volume mounts, resolved to host paths.
	Mounts []*runtimeapi.Mount
	// RestartCount is the number of runs before this one.
	RestartCount int32
	// Init marks an init container.
	Init bool
	// MemoryCapacity is the node's memory (for OOM score adjustment).
	MemoryCapacity int64
}

// ContainerConfig is the CRI config of container c of pod.
func (c *Config) ContainerConfig(pod *corev1.Pod, ctr *corev1.Container, o ContainerOptions) *runtimeapi.ContainerConfig {
	env := make(map[string]string, len(o.Env))
	for _, kv := range o.Env {
		env[kv.Key] = string(kv.Value)
	}
	expand := func(in []string) []string {
		if in == nil {
			return nil
		}
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = Expand(s, env)
		}
		return out
	}
	annotations := map[string]string{
		AnnotationRestartCount:             strconv.Itoa(int(o.RestartCount)),
		AnnotationContainerHash:            Hash(ctr),
		AnnotationTerminationMessagePath:   ctr.TerminationMessagePath,
		AnnotationTerminationMessagePolicy: string(ctr.TerminationMessagePolicy),
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		annotations[AnnotationTerminationGracePeriod] = strconv.FormatInt(*pod.Spec.TerminationGracePeriodSeconds, 10)
	}
	return &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: ctr.Name, Attempt: uint32(o.RestartCount)},
		Image:       &runtimeapi.ImageSpec{Image: ctr.Image, UserSpecifiedImage: ctr.Image},
		Command:     expand(ctr.Command),
		Args:        expand(ctr.Args),
		WorkingDir:  ctr.WorkingDir,
		Envs:        o.Env,
		Mounts:      o.Mounts,
		Labels:      containerLabels(pod, ctr, o.Init),
		Annotations: annotations,
		LogPath:     LogPath(ctr.Name, o.RestartCount),
		Stdin:       ctr.Stdin,
		StdinOnce:   ctr.StdinOnce,
		Tty:         ctr.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       Resources(pod, ctr, o.MemoryCapacity),
			SecurityContext: securityContext(pod, ctr),
		},
	}
}

// LogPath is a container run's log file, relative to the pod's log
// directory: <container>/<restartCount>.log.
func LogPath(name string, restartCount int32) string {
	return filepath.Join(name, strconv.Itoa(int(restartCount))+".log")
}

// TerminationMessageFile is the host file mounted at a container run's
// terminationMessagePath.
func (c *Config) TerminationMessageFile(pod *corev1.Pod, name string, restartCount int32) string {
	return filepath.Join(c.PodDir(pod), "containers", name, strconv.Itoa(int(restartCount)))
}

// Hash identifies a container spec: a running container whose spec
// changed (a new image) is restarted.
func Hash(c *corev1.Container) string {
	cp := c.DeepCopy()
	cp.Resources = corev1.ResourceRequirements{} // resized in place, not restarted
	cp.ResizePolicy = nil
	b, err := json.Marshal(cp)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// securityContext is the container's effective security context: its own
// settings over the pod's.
func securityContext(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerSecurityContext {
	sc := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions(pod)}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = supplementalGroups(psc)
		sc.Seccomp = seccomp(psc.SeccompProfile)
	}
	csc := c.SecurityContext
	if csc != nil {
		if csc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *csc.RunAsUser}
		}
		if csc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *csc.RunAsGroup}
		}
		if csc.Privileged != nil {
			sc.Privileged = *csc.Privileged
		}
		if csc.ReadOnlyRootFilesystem != nil {
			sc.ReadonlyRootfs = *csc.ReadOnlyRootFilesystem
		}
		if csc.AllowPrivilegeEscalation != nil {
			sc.NoNewPrivs = !*csc.AllowPrivilegeEscalation
		}
		if caps := csc.Capabilities; caps != nil {
			sc.Capabilities = &runtimeapi.Capability{}
			for _, c := range caps.Add {
				sc.Capabilities.AddCapabilities = append(sc.Capabilities.AddCapabilities, capName(c))
			}
			for _, c := range caps.Drop {
				sc.Capabilities.DropCapabilities = append(sc.Capabilities.DropCapabilities, capName(c))
			}
		}
		if csc.SeccompProfile != nil {
			sc.Seccomp = seccomp(csc.SeccompProfile)
		}
	}
	if !sc.Privileged && (csc == nil || csc.ProcMount == nil || *csc.ProcMount != corev1.UnmaskedProcMount) {
		sc.MaskedPaths, sc.ReadonlyPaths = defaultMaskedPaths, defaultReadonlyPaths
	}
	return sc
}

// capName is a capability as the runtime spells it (CAP_ prefixed).
// capName is a capability's name as the CRI takes it: as written in the
// pod (NET_ADMIN, ALL), as upstream's kubelet passes it; the runtime adds
// the CAP_ prefix.
func capName(c corev1.Capability) string { return string(c) }

func seccomp(p *corev1.SeccompProfile) *runtimeapi.SecurityProfile {
	if p == nil {
		return nil
	}
	switch p.Type {
	case corev1.SeccompProfileTypeRuntimeDefault:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	case corev1.SeccompProfileTypeLocalhost:
		lp := ""
		if p.LocalhostProfile != nil {
			lp = *p.LocalhostProfile
		}
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: lp}
	}
	return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
}

// Expand replaces $(VAR) references in s by env's values as upstream:
// $$ is an escaped $, and a reference to an unknown variable is kept.
func Expand(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// ContainerID is a runtime container ID as the API shows it.
func ContainerID(id string) string { return fmt.Sprintf("containerd://%s", id) }
