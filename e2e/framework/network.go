package framework

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/exec"
)

// Ports of the test image's servers.
const (
	// ServeHostnamePort is serve-hostname's default port (HTTP).
	ServeHostnamePort = 9376
	// NetexecHTTPPort and NetexecUDPPort are netexec's default ports.
	NetexecHTTPPort = 8080
	NetexecUDPPort  = 8081
)

// NetexecPod is a pod named name running netexec (HTTP on 8080: /hostname,
// /clientip, ...; UDP on 8081: "hostname", "echo M", "clientip"),
// labelled labels, Ready once /healthz answers, with a preStop hook that
// keeps it serving for drain after its deletion (so that traffic moves
// away before it stops; 0: none).
func NetexecPod(name string, labels map[string]string, drain time.Duration) *corev1.Pod {
	pod := TestPod(name, "netexec", "--http-port", strconv.Itoa(NetexecHTTPPort), "--udp-port", strconv.Itoa(NetexecUDPPort))
	c := &pod.Spec.Containers[0]
	c.Ports = []corev1.ContainerPort{
		{Name: "http", ContainerPort: NetexecHTTPPort, Protocol: corev1.ProtocolTCP},
		{Name: "udp", ContainerPort: NetexecUDPPort, Protocol: corev1.ProtocolUDP},
	}
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(NetexecHTTPPort)}},
		PeriodSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1, TimeoutSeconds: 5,
	}
	setDrain(&pod.Spec, drain)
	for k, v := range labels {
		pod.Labels[k] = v
	}
	return pod
}

// ServeHostnameSpec is a pod spec whose container "app" answers every
// HTTP request on 9376 with its hostname (the pod's name), Ready once it
// answers, with a preStop hook that keeps it serving for drain after its
// deletion (0: none).
func ServeHostnameSpec(drain time.Duration) corev1.PodSpec {
	grace := int64(5)
	c := TestContainer("app", "serve-hostname", "--port", strconv.Itoa(ServeHostnamePort))
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: ServeHostnamePort, Protocol: corev1.ProtocolTCP}}
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(ServeHostnamePort)}},
		PeriodSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1, TimeoutSeconds: 5,
	}
	spec := corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{c}}
	setDrain(&spec, drain)
	return spec
}

// setDrain gives the spec's first container a preStop hook sleeping
// drain, and a grace period that covers it.
func setDrain(spec *corev1.PodSpec, drain time.Duration) {
	if drain <= 0 {
		return
	}
	spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
		Exec: &corev1.ExecAction{Command: []string{"/testapp", "sleep", drain.String()}},
	}}
	grace := int64(drain/time.Second) + 10
	spec.TerminationGracePeriodSeconds = &grace
}

// PinToNode makes the scheduler put pod on node, as upstream's
// e2epod.SetNodeSelection does: a required node affinity on the node's
// name (taints are still honoured, unlike spec.nodeName).
func PinToNode(pod *corev1.Pod, node string) {
	pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
		}}},
	}}
}

// CreateService creates svc in the spec's namespace and fails the spec if
// it cannot.
func (f *Framework) CreateService(ctx context.Context, svc *corev1.Service) *corev1.Service {
	created, err := f.Client.CoreV1().Services(f.NS()).Create(ctx, svc, metav1.CreateOptions{})
	ExpectNoError(err, "create service %s", svc.Name)
	Logf("created service %s/%s: type %s, clusterIPs %v, ports %s", f.NS(), created.Name, created.Spec.Type,
		created.Spec.ClusterIPs, servicePorts(created))
	return created
}

func servicePorts(svc *corev1.Service) string {
	var ports []string
	for _, p := range svc.Spec.Ports {
		s := fmt.Sprintf("%s:%d/%s->%s", p.Name, p.Port, p.Protocol, p.TargetPort.String())
		if p.NodePort != 0 {
			s += fmt.Sprintf(" (nodePort %d)", p.NodePort)
		}
		ports = append(ports, s)
	}
	return strings.Join(ports, ", ")
}

// ServiceEndpoints are the endpoints of a Service's EndpointSlices, by
// the name of the pod each points to (or its first address for an
// endpoint without a pod).
type ServiceEndpoints struct {
	// Ready are the endpoints a proxy sends new connections to.
	Ready []string
	// NotReady are the others (unready or terminating pods).
	NotReady []string
}

// String is "ready [..] not ready [..]".
func (e ServiceEndpoints) String() string {
	return fmt.Sprintf("ready %v, not ready %v", e.Ready, e.NotReady)
}

// Endpoints reads the endpoints of Service svc from its EndpointSlices
// (labelled kubernetes.io/service-name). An endpoint without a ready
// condition counts as ready, as the API defines.
func (f *Framework) Endpoints(ctx context.Context, svc string) (ServiceEndpoints, error) {
	list, err := f.Client.DiscoveryV1().EndpointSlices(f.NS()).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc,
	})
	if err != nil {
		return ServiceEndpoints{}, fmt.Errorf("list the endpoint slices of service %s: %w", svc, err)
	}
	var eps ServiceEndpoints
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			name := ""
			switch {
			case ep.TargetRef != nil && ep.TargetRef.Kind == "Pod":
				name = ep.TargetRef.Name
			case len(ep.Addresses) > 0:
				name = ep.Addresses[0]
			default:
				continue
			}
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				eps.Ready = append(eps.Ready, name)
			} else {
				eps.NotReady = append(eps.NotReady, name)
			}
		}
	}
	// A pod is in one slice per address family: count it once.
	eps.Ready = sortedUnique(eps.Ready)
	eps.NotReady = sortedUnique(eps.NotReady)
	return eps, nil
}

func sortedUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// WaitForEndpoints waits until the endpoints of Service svc satisfy cond
// and returns them; it fails the spec after timeout.
func (f *Framework) WaitForEndpoints(ctx context.Context, svc, desc string, timeout time.Duration, cond func(ServiceEndpoints) bool) ServiceEndpoints {
	var last ServiceEndpoints
	err := WaitFor(ctx, fmt.Sprintf("endpoints of service %s/%s %s", f.NS(), svc, desc), timeout, func(ctx context.Context) (bool, string, error) {
		eps, err := f.Endpoints(ctx, svc)
		if err != nil {
			return false, err.Error(), nil
		}
		last = eps
		return cond(eps), eps.String(), nil
	})
	ExpectNoError(err)
	return last
}

// WaitForReadyEndpoints waits until the ready endpoints of Service svc are
// exactly the pods named.
func (f *Framework) WaitForReadyEndpoints(ctx context.Context, svc string, pods []string, timeout time.Duration) {
	want := sortedUnique(slices.Clone(pods))
	f.WaitForEndpoints(ctx, svc, fmt.Sprintf("to be ready exactly %v", want), timeout, func(eps ServiceEndpoints) bool {
		return slices.Equal(eps.Ready, want)
	})
}

// ExecTestapp runs the test image's subcommand args in container "app"
// of pod (in the spec's namespace).
func (f *Framework) ExecTestapp(ctx context.Context, pod string, args ...string) (stdout, stderr string, err error) {
	return f.Exec(ctx, ExecOptions{Pod: pod, Container: "app", Command: append([]string{"/testapp"}, args...)})
}

// ExitCode is the exit code of a command Exec ran that exited non-zero
// (ok false for any other error).
func ExitCode(err error) (code int, ok bool) {
	var exit exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitStatus(), true
	}
	return 0, false
}

// Lines splits a command's output into its non-empty lines.
func Lines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// HostPort joins an IP (IPv6 in brackets) and a port.
func HostPort(ip string, port int32) string {
	return net.JoinHostPort(ip, strconv.Itoa(int(port)))
}

// PodIPOfFamily is the pod's IP of the family of ip (IPv4 or IPv6), or "".
func PodIPOfFamily(pod *corev1.Pod, ip string) string {
	want6 := isIPv6(ip)
	for _, p := range pod.Status.PodIPs {
		if isIPv6(p.IP) == want6 {
			return p.IP
		}
	}
	if pod.Status.PodIP != "" && isIPv6(pod.Status.PodIP) == want6 {
		return pod.Status.PodIP
	}
	return ""
}

// PodIPs are the pod's IPs (status.podIPs, or status.podIP).
func PodIPs(pod *corev1.Pod) []string {
	var ips []string
	for _, p := range pod.Status.PodIPs {
		ips = append(ips, p.IP)
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = append(ips, pod.Status.PodIP)
	}
	return ips
}

// NodeInternalIP is the node's first InternalIP of family, or "".
func NodeInternalIP(node *corev1.Node, family corev1.IPFamily) string {
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && isIPv6(a.Address) == (family == corev1.IPv6Protocol) {
			return a.Address
		}
	}
	return ""
}

func isIPv6(ip string) bool {
	p := net.ParseIP(ip)
	return p != nil && p.To4() == nil
}
