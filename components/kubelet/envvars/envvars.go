// Package envvars resolves a container's environment as upstream's
// kubelet does: service links, envFrom config maps and secrets, then env
// entries with values ($(VAR) references expanded), config map and secret
// keys, pod fields and resource fields.
package envvars

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kubelab/kubelab/components/kubelet/podruntime"
)

// Objects reads the objects a container's environment refers to.
type Objects interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	// Services lists the services of namespace ("": none wanted).
	Services(ctx context.Context, namespace string) ([]*corev1.Service, error)
}

// ConfigError is an environment that cannot be built (a missing config
// map, secret or key): the container waits with CreateContainerConfigError.
type ConfigError struct{ msg string }

// Error returns the message.
func (e *ConfigError) Error() string { return e.msg }

// IsConfigError reports whether err is a ConfigError.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

func configErrorf(format string, args ...any) error {
	return &ConfigError{msg: fmt.Sprintf(format, args...)}
}

// Pod is what fieldRef and resourceFieldRef entries read besides the pod.
type Pod struct {
	Pod *corev1.Pod
	// HostIP and PodIPs are the node's and the pod's addresses.
	HostIP string
	PodIPs []string
	// NodeAllocatable stands in for unset limits in resourceFieldRef.
	NodeAllocatable corev1.ResourceList
}

// Resolve returns container c's environment in order.
func Resolve(ctx context.Context, objs Objects, p Pod, c *corev1.Container) ([]*runtimeapi.KeyValue, error) {
	pod := p.Pod
	var order []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	svc, err := serviceEnv(ctx, objs, pod)
	if err != nil {
		return nil, err
	}
	for _, kv := range svc {
		set(kv[0], kv[1])
	}
	for _, from := range c.EnvFrom {
		data, err := envFromData(ctx, objs, pod.Namespace, from)
		if err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(from.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom == nil {
			v = podruntime.Expand(v, vals)
		} else {
			got, ok, err := valueFrom(ctx, objs, p, c, e)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue // an optional reference that is missing
			}
			v = got
		}
		set(e.Name, v)
	}
	out := make([]*runtimeapi.KeyValue, 0, len(order))
	for _, k := range order {
		out = append(out, &runtimeapi.KeyValue{Key: k, Value: []byte(vals[k])})
	}
	return out, nil
}

// envFromData is the data of an envFrom source (nil for a missing
// optional one).
func envFromData(ctx context.Context, objs Objects, ns string, from corev1.EnvFromSource) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		cm, err := objs.ConfigMap(ctx, ns, from.ConfigMapRef.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
				return nil, nil
			}
			return nil, refError("configmap", from.ConfigMapRef.Name, err)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		s, err := objs.Secret(ctx, ns, from.SecretRef.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
				return nil, nil
			}
			return nil, refError("secret", from.SecretRef.Name, err)
		}
		out := make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			out[k] = string(v)
		}
		return out, nil
	}
	return nil, nil
}

// refError makes a missing object a ConfigError; other errors pass.
func refError(kind, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return configErrorf("%s %q not found", kind, name)
	}
	return fmt.Errorf("get %s %s: %w", kind, name, err)
}

// valueFrom resolves one env entry's valueFrom; ok is false for an
// optional reference that is missing.
func valueFrom(ctx context.Context, objs Objects, p Pod, c *corev1.Container, e corev1.EnvVar) (string, bool, error) {
	pod, from := p.Pod, e.ValueFrom
	optional := func(o *bool) bool { return o != nil && *o }
	switch {
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := objs.ConfigMap(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, refError("configmap", ref.Name, err)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if b, isBin := cm.BinaryData[ref.Key]; isBin {
				return string(b), true, nil
			}
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, configErrorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return v, true, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := objs.Secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, refError("secret", ref.Name, err)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, configErrorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return string(v), true, nil
	case from.FieldRef != nil:
		v, err := FieldValue(p, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err := ResourceValue(p, c, from.ResourceFieldRef)
		return v, err == nil, err
	}
	return "", false, configErrorf("env %s: empty valueFrom", e.Name)
}

// FieldValue is a pod field a fieldRef (or a downward API file) selects.
func FieldValue(p Pod, path string) (string, error) {
	pod := p.Pod
	if key, ok := bracketKey(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := bracketKey(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return p.HostIP, nil
	case "status.hostIPs":
		return p.HostIP, nil
	case "status.podIP":
		if len(p.PodIPs) > 0 {
			return p.PodIPs[0], nil
		}
		return "", nil
	case "status.podIPs":
		return strings.Join(p.PodIPs, ","), nil
	}
	return "", configErrorf("unsupported fieldPath %q", path)
}

// bracketKey reads prefix['key'].
func bracketKey(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// formatMap renders a map as upstream's downward API: sorted key="value"
// lines.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

// ResourceValue is a container resource a resourceFieldRef selects, in
// its divisor's units rounded up; unset limits are the node's allocatable.
func ResourceValue(p Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	if ref.ContainerName != "" {
		c = findContainer(p.Pod, ref.ContainerName)
		if c == nil {
			return "", configErrorf("resourceFieldRef: no container %q", ref.ContainerName)
		}
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", configErrorf("unsupported resource %q", ref.Resource)
	}
	rn := corev1.ResourceName(name)
	var q resource.Quantity
	var found bool
	switch kind {
	case "limits":
		q, found = c.Resources.Limits[rn]
		if !found {
			q, found = p.NodeAllocatable[rn]
		}
	case "requests":
		q, found = c.Resources.Requests[rn]
		if !found && rn == corev1.ResourceCPU {
			q, found = resource.MustParse("0"), true
		}
	default:
		return "", configErrorf("unsupported resource %q", ref.Resource)
	}
	if !found {
		q = resource.MustParse("0")
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if rn == corev1.ResourceCPU {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}
