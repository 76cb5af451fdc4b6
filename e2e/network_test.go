//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"github.com/kubelab/kubelab/e2e/framework"
)

// The client side of these specs runs the test image's clients (http-get,
// udp-request, connect) in a pod through exec, so the traffic starts in
// the pod network as an application's would.

const (
	// reachTimeout bounds waits for traffic that should flow: a new pod's
	// routes, a new service's rules.
	reachTimeout = time.Minute
	// endpointsTimeout bounds waits for a service's endpoints.
	endpointsTimeout = 2 * time.Minute
	// batch is how many requests one exec sends.
	batch = 10
)

var _ = framework.SIGDescribe("network", "Networking", func() {
	f := framework.New("network")

	framework.ConformanceIt("should let pods on one node reach each other by pod IP over HTTP", func(ctx ginkgo.SpecContext) {
		node := schedulableNodeNames(ctx, f)[0]
		var pods []*corev1.Pod
		for _, name := range []string{"pod-a", "pod-b"} {
			p := framework.NetexecPod(name, nil, 0)
			framework.PinToNode(p, node)
			pods = append(pods, p)
		}
		pods = startPods(ctx, f, pods...)
		expectMeshReachable(ctx, f, pods)
	})

	framework.ConformanceIt("should let pods on different nodes reach each other by pod IP over HTTP", func(ctx ginkgo.SpecContext) {
		pods := startPods(ctx, f, podPerNode(ctx, f, "pod")...)
		expectMeshReachable(ctx, f, pods)
	})

	ginkgo.It("should show a pod's own IP as the source of its traffic to pods on other nodes (no NAT between pods)", func(ctx ginkgo.SpecContext) {
		pods := startPods(ctx, f, podPerNode(ctx, f, "pod")...)
		for _, from := range pods {
			for _, to := range pods {
				if from == to {
					continue
				}
				for _, ip := range framework.PodIPs(to) {
					want := framework.PodIPOfFamily(from, ip)
					url := "http://" + framework.HostPort(ip, framework.NetexecHTTPPort) + "/clientip"
					var got string
					err := framework.WaitFor(ctx, fmt.Sprintf("%s to reach %s", from.Name, url), reachTimeout, func(ctx context.Context) (bool, string, error) {
						answers, err := httpGet(ctx, f, from.Name, url, 1)
						if err != nil {
							return false, err.Error(), nil
						}
						got = answers[0]
						return true, "", nil
					})
					framework.ExpectNoError(err)
					host, _, err := net.SplitHostPort(got)
					framework.ExpectNoError(err, "/clientip answered %q", got)
					gomega.Expect(host).To(gomega.Equal(want), "the source address %s (node %s) saw for traffic from %s (node %s, IP %s)",
						to.Name, to.Spec.NodeName, from.Name, from.Spec.NodeName, want)
				}
			}
		}
	})
})

var _ = framework.SIGDescribe("network", "Services", func() {
	f := framework.New("services")

	framework.ConformanceIt("should serve a ClusterIP service over TCP from every backend, with backends spread over the nodes", func(ctx ginkgo.SpecContext) {
		labels := map[string]string{"e2e.kubelab.io/app": "hostnames"}
		nodes := schedulableNodeNames(ctx, f)
		var pods []*corev1.Pod
		for i := range max(2, min(3, len(nodes))) {
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("hostnames-%d", i), Labels: maps.Clone(labels)},
				Spec:       framework.ServeHostnameSpec(0),
			}
			framework.PinToNode(p, nodes[i%len(nodes)])
			pods = append(pods, p)
		}
		svc := f.CreateService(ctx, clusterIPService("hostnames", labels, corev1.ServicePort{
			Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
		}))
		pods = startPods(ctx, f, pods...)
		names := podNames(pods)
		f.WaitForReadyEndpoints(ctx, svc.Name, names, endpointsTimeout)
		client := startClient(ctx, f, nodes[0])

		for _, ip := range svc.Spec.ClusterIPs {
			url := "http://" + framework.HostPort(ip, 80) + "/"
			expectAnswers(ctx, "a client to see every backend through "+url, names, true, func(ctx context.Context) ([]string, error) {
				return httpGet(ctx, f, client, url, batch)
			})
		}
	})

	framework.ConformanceIt("should serve a ClusterIP service over UDP", func(ctx ginkgo.SpecContext) {
		labels := map[string]string{"e2e.kubelab.io/app": "udp-echo"}
		pods := podPerNode(ctx, f, "udp-echo")
		for _, p := range pods {
			maps.Copy(p.Labels, labels)
		}
		svc := f.CreateService(ctx, clusterIPService("udp-echo", labels, corev1.ServicePort{
			Name: "udp", Port: 90, TargetPort: intstr.FromString("udp"), Protocol: corev1.ProtocolUDP,
		}))
		pods = startPods(ctx, f, pods...)
		names := podNames(pods)
		f.WaitForReadyEndpoints(ctx, svc.Name, names, endpointsTimeout)
		client := startClient(ctx, f, pods[0].Spec.NodeName)

		for _, ip := range svc.Spec.ClusterIPs {
			addr := framework.HostPort(ip, 90)
			expectAnswers(ctx, "UDP answers from every backend through "+addr, names, true, func(ctx context.Context) ([]string, error) {
				return udpRequest(ctx, f, client, addr, "hostname", batch)
			})
			answers, err := udpRequest(ctx, f, client, addr, "echo through the service", 1)
			framework.ExpectNoError(err)
			gomega.Expect(answers).To(gomega.Equal([]string{"through the service"}), "the echo of a datagram through %s", addr)
		}
	})

	framework.ConformanceIt("should serve a NodePort service on every node's InternalIP over TCP and UDP", func(ctx ginkgo.SpecContext) {
		labels := map[string]string{"e2e.kubelab.io/app": "nodeport"}
		pods := podPerNode(ctx, f, "nodeport")
		for _, p := range pods {
			maps.Copy(p.Labels, labels)
		}
		svc := clusterIPService("nodeport", labels,
			corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
			corev1.ServicePort{Name: "udp", Port: 81, TargetPort: intstr.FromString("udp"), Protocol: corev1.ProtocolUDP})
		svc.Spec.Type = corev1.ServiceTypeNodePort
		svc = f.CreateService(ctx, svc)
		var tcpPort, udpPort int32
		for _, p := range svc.Spec.Ports {
			gomega.Expect(p.NodePort).NotTo(gomega.BeZero(), "port %s got a nodePort", p.Name)
			if p.Protocol == corev1.ProtocolUDP {
				udpPort = p.NodePort
			} else {
				tcpPort = p.NodePort
			}
		}
		pods = startPods(ctx, f, pods...)
		names := podNames(pods)
		f.WaitForReadyEndpoints(ctx, svc.Name, names, endpointsTimeout)
		client := startClient(ctx, f, pods[0].Spec.NodeName)

		family := serviceFamily(svc)
		nodes, err := f.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		framework.ExpectNoError(err)
		checked := 0
		for i := range nodes.Items {
			n := &nodes.Items[i]
			if !nodeReady(n) {
				framework.Logf("skipping node %s: not Ready", n.Name)
				continue
			}
			ip := framework.NodeInternalIP(n, family)
			gomega.Expect(ip).NotTo(gomega.BeEmpty(), "node %s has an %s InternalIP", n.Name, family)
			url := "http://" + framework.HostPort(ip, tcpPort) + "/hostname"
			expectAnswers(ctx, fmt.Sprintf("an answer through node %s's %s", n.Name, url), names, false, func(ctx context.Context) ([]string, error) {
				return httpGet(ctx, f, client, url, 1)
			})
			addr := framework.HostPort(ip, udpPort)
			expectAnswers(ctx, fmt.Sprintf("a UDP answer through node %s's %s", n.Name, addr), names, false, func(ctx context.Context) ([]string, error) {
				return udpRequest(ctx, f, client, addr, "hostname", 1)
			})
			checked++
		}
		gomega.Expect(checked).To(gomega.BeNumerically(">", 0), "a Ready node to reach the service through")
	})

	framework.ConformanceIt("should stop sending traffic to a backend once its endpoint is gone, as backends are deleted and scaled down", func(ctx ginkgo.SpecContext) {
		labels := map[string]string{"e2e.kubelab.io/app": "backend"}
		replicas := int32(3)
		// Backends keep serving 10 s after their deletion (a preStop
		// hook), so that the service keeps answering while its endpoints
		// and the proxies catch up.
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "backend"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       framework.ServeHostnameSpec(10 * time.Second),
				},
			},
		}
		_, err := f.Client.AppsV1().Deployments(f.NS()).Create(ctx, dep, metav1.CreateOptions{})
		framework.ExpectNoError(err)
		svc := f.CreateService(ctx, clusterIPService("backend", labels, corev1.ServicePort{
			Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
		}))
		client := startClient(ctx, f, "")
		url := "http://" + framework.HostPort(svc.Spec.ClusterIP, 80) + "/"
		query := func(ctx context.Context) ([]string, error) { return httpGet(ctx, f, client, url, batch) }

		eps := f.WaitForEndpoints(ctx, svc.Name, "to be 3 ready", framework.TestContext.PodStartTimeout+endpointsTimeout, func(e framework.ServiceEndpoints) bool {
			return len(e.Ready) == 3
		})
		expectAnswers(ctx, "answers from every backend", eps.Ready, true, query)

		ginkgo.By("deleting one backend")
		victim := eps.Ready[0]
		framework.ExpectNoError(f.Client.CoreV1().Pods(f.NS()).Delete(ctx, victim, metav1.DeleteOptions{}))
		f.WaitForEndpoints(ctx, svc.Name, "to drop "+victim, endpointsTimeout, func(e framework.ServiceEndpoints) bool {
			return !slices.Contains(e.Ready, victim)
		})
		expectNeverFrom(ctx, "the deleted backend "+victim, query, func(a string) bool { return a != victim })

		ginkgo.By("scaling the backends down to 1")
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := f.Client.AppsV1().Deployments(f.NS()).Get(ctx, dep.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			d.Spec.Replicas = ptr(int32(1))
			_, err = f.Client.AppsV1().Deployments(f.NS()).Update(ctx, d, metav1.UpdateOptions{})
			return err
		})
		framework.ExpectNoError(err, "scale deployment %s to 1", dep.Name)
		eps = f.WaitForEndpoints(ctx, svc.Name, "to be 1 ready", endpointsTimeout, func(e framework.ServiceEndpoints) bool {
			return len(e.Ready) == 1
		})
		survivor := eps.Ready[0]
		expectNeverFrom(ctx, "any backend but "+survivor, query, func(a string) bool { return a == survivor })
	})

	framework.ConformanceIt("should refuse connections promptly to a service without ready endpoints", func(ctx ginkgo.SpecContext) {
		client := startClient(ctx, f, "")

		ginkgo.By("a service whose selector matches no pod")
		empty := f.CreateService(ctx, clusterIPService("empty", map[string]string{"e2e.kubelab.io/app": "nothing"}, corev1.ServicePort{
			Name: "http", Port: 80, TargetPort: intstr.FromInt32(framework.ServeHostnamePort), Protocol: corev1.ProtocolTCP,
		}))
		expectRefused(ctx, f, client, framework.HostPort(empty.Spec.ClusterIP, 80))

		ginkgo.By("a service whose only backend runs but is not ready")
		labels := map[string]string{"e2e.kubelab.io/app": "gated"}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gated", Labels: labels}, Spec: framework.ServeHostnameSpec(0)}
		pod.Spec.Volumes = []corev1.Volume{{Name: "state", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		c := &pod.Spec.Containers[0]
		c.VolumeMounts = []corev1.VolumeMount{{Name: "state", MountPath: "/state"}}
		c.ReadinessProbe.ProbeHandler = corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/testapp", "exists", "/state/ready"}}}
		gated := f.CreateService(ctx, clusterIPService("gated", labels, corev1.ServicePort{
			Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
		}))
		f.CreatePod(ctx, pod)
		f.WaitForPodRunning(ctx, pod.Name)
		f.WaitForEndpoints(ctx, gated.Name, "to list "+pod.Name+" as not ready", endpointsTimeout, func(e framework.ServiceEndpoints) bool {
			return len(e.Ready) == 0 && slices.Equal(e.NotReady, []string{pod.Name})
		})
		addr := framework.HostPort(gated.Spec.ClusterIP, 80)
		expectRefused(ctx, f, client, addr)

		ginkgo.By("making the backend ready")
		_, _, err := f.ExecTestapp(ctx, pod.Name, "write-file", "/state/ready", "yes")
		framework.ExpectNoError(err)
		f.WaitForPodReady(ctx, pod.Name, 30*time.Second)
		f.WaitForReadyEndpoints(ctx, gated.Name, []string{pod.Name}, endpointsTimeout)
		expectAnswers(ctx, "answers through "+addr+" once its backend is ready", []string{pod.Name}, true, func(ctx context.Context) ([]string, error) {
			return httpGet(ctx, f, client, "http://"+addr+"/", 1)
		})
	})
})

// clusterIPService is a ClusterIP service selecting labels.
func clusterIPService(name string, labels map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: labels, Ports: ports},
	}
}

// serviceFamily is the service's primary IP family.
func serviceFamily(svc *corev1.Service) corev1.IPFamily {
	if len(svc.Spec.IPFamilies) > 0 {
		return svc.Spec.IPFamilies[0]
	}
	if ip := net.ParseIP(svc.Spec.ClusterIP); ip != nil && ip.To4() == nil {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}

// schedulableNodeNames are the Ready, schedulable nodes a test pod may
// run on, sorted; the spec fails when there is none.
func schedulableNodeNames(ctx context.Context, f *framework.Framework) []string {
	ginkgo.GinkgoHelper()
	nodes, err := f.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	framework.ExpectNoError(err)
	names := schedulableNodes(nodes.Items, &framework.TestPod("probe").Spec)
	gomega.Expect(names).NotTo(gomega.BeEmpty(), "the cluster has a node test pods may run on")
	slices.Sort(names)
	return names
}

// podPerNode is a netexec pod named <prefix>-<i> pinned to each of up to
// three schedulable nodes; a spec about traffic between nodes skips on a
// cluster with one.
func podPerNode(ctx context.Context, f *framework.Framework, prefix string) []*corev1.Pod {
	ginkgo.GinkgoHelper()
	nodes := schedulableNodeNames(ctx, f)
	if len(nodes) < 2 {
		ginkgo.Skip(fmt.Sprintf("needs two schedulable nodes; the cluster has %d (%v)", len(nodes), nodes))
	}
	var pods []*corev1.Pod
	for i, n := range nodes[:min(3, len(nodes))] {
		p := framework.NetexecPod(fmt.Sprintf("%s-%d", prefix, i), nil, 0)
		framework.PinToNode(p, n)
		pods = append(pods, p)
	}
	return pods
}

// startPods creates pods and waits until each is Ready; it returns them
// as they are then (with node and IPs).
func startPods(ctx context.Context, f *framework.Framework, pods ...*corev1.Pod) []*corev1.Pod {
	ginkgo.GinkgoHelper()
	for _, p := range pods {
		f.CreatePod(ctx, p)
	}
	var started []*corev1.Pod
	for _, p := range pods {
		got := f.WaitForPodReady(ctx, p.Name, framework.TestContext.PodStartTimeout)
		framework.Logf("pod %s runs on %s with IPs %v", got.Name, got.Spec.NodeName, framework.PodIPs(got))
		started = append(started, got)
	}
	return started
}

// startClient starts the pod "client" the specs send traffic from, on
// node (anywhere when node is ""), and returns its name.
func startClient(ctx context.Context, f *framework.Framework, node string) string {
	ginkgo.GinkgoHelper()
	pod := framework.TestPod("client", "pause")
	if node != "" {
		framework.PinToNode(pod, node)
	}
	f.CreatePod(ctx, pod)
	got := f.WaitForPodRunning(ctx, pod.Name)
	framework.Logf("client pod runs on %s with IPs %v", got.Spec.NodeName, framework.PodIPs(got))
	return pod.Name
}

func podNames(pods []*corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

// expectMeshReachable checks that every netexec pod reaches every other
// one at each of its pod IPs and gets its hostname back.
func expectMeshReachable(ctx context.Context, f *framework.Framework, pods []*corev1.Pod) {
	ginkgo.GinkgoHelper()
	for _, from := range pods {
		for _, to := range pods {
			if from == to {
				continue
			}
			for _, ip := range framework.PodIPs(to) {
				url := "http://" + framework.HostPort(ip, framework.NetexecHTTPPort) + "/hostname"
				desc := fmt.Sprintf("%s (node %s) to reach %s (node %s) at %s", from.Name, from.Spec.NodeName, to.Name, to.Spec.NodeName, url)
				expectAnswers(ctx, desc, []string{to.Name}, true, func(ctx context.Context) ([]string, error) {
					return httpGet(ctx, f, from.Name, url, 1)
				})
			}
		}
	}
}

// httpGet runs http-get in pod: count GETs of url, each on a new
// connection. It returns the answers, and an error when a request failed.
func httpGet(ctx context.Context, f *framework.Framework, pod, url string, count int) ([]string, error) {
	stdout, stderr, err := f.ExecTestapp(ctx, pod, "http-get", "--count", strconv.Itoa(count), "--timeout", "3s", url)
	if err != nil {
		return framework.Lines(stdout), fmt.Errorf("http-get %s from %s: %w: %s", url, pod, err, strings.TrimSpace(stderr))
	}
	return framework.Lines(stdout), nil
}

// udpRequest runs udp-request in pod: count datagrams msg to addr, each
// from a new socket. It returns the answers, and an error when one got none.
func udpRequest(ctx context.Context, f *framework.Framework, pod, addr, msg string, count int) ([]string, error) {
	stdout, stderr, err := f.ExecTestapp(ctx, pod, "udp-request", "--count", strconv.Itoa(count), "--timeout", "2s", addr, msg)
	if err != nil {
		return framework.Lines(stdout), fmt.Errorf("udp-request %s from %s: %w: %s", addr, pod, err, strings.TrimSpace(stderr))
	}
	return framework.Lines(stdout), nil
}

// expectAnswers polls query until its answers have covered every one of
// want (all) or until one query answered fully (!all). Failed queries are
// waited out (rules may not be in place yet); an answer that is not in
// want fails the spec at once: traffic went somewhere it must not.
func expectAnswers(ctx context.Context, desc string, want []string, all bool, query func(context.Context) ([]string, error)) {
	ginkgo.GinkgoHelper()
	seen := map[string]int{}
	err := framework.WaitFor(ctx, desc, reachTimeout, func(ctx context.Context) (bool, string, error) {
		answers, qerr := query(ctx)
		for _, a := range answers {
			if !slices.Contains(want, a) {
				return false, "", fmt.Errorf("answer %q is from none of %v", a, want)
			}
			seen[a]++
		}
		state := fmt.Sprintf("answers so far %v of %v", seen, want)
		if qerr != nil {
			return false, state + "; last query: " + qerr.Error(), nil
		}
		if !all {
			return len(answers) > 0, state, nil
		}
		return len(seen) == len(want), state, nil
	})
	framework.ExpectNoError(err)
}

// expectNeverFrom checks that a service whose endpoints just changed keeps
// answering, stops answering from what allowed rejects once the proxies
// catch up, and then never does so again for a while. Every query must
// succeed throughout: the backends leaving keep serving during their
// preStop hook.
func expectNeverFrom(ctx context.Context, what string, query func(context.Context) ([]string, error), allowed func(string) bool) {
	ginkgo.GinkgoHelper()
	check := func(ctx context.Context) (bool, string, error) {
		answers, err := query(ctx)
		if err != nil {
			return false, "", fmt.Errorf("the service stopped answering: %w", err)
		}
		for _, a := range answers {
			if !allowed(a) {
				return false, fmt.Sprintf("answers %v", answers), nil
			}
		}
		return true, fmt.Sprintf("answers %v", answers), nil
	}
	framework.ExpectNoError(framework.WaitFor(ctx, "no answer from "+what, 30*time.Second, check))
	framework.ExpectNoError(framework.Consistently(ctx, "no answer from "+what, 5*time.Second, check))
}

// expectRefused waits until a TCP connection to addr from pod is refused
// (a service's reject rule may not be in place yet), then checks that
// every attempt for a while is refused at once: not accepted, not left to
// time out.
func expectRefused(ctx context.Context, f *framework.Framework, pod, addr string) {
	ginkgo.GinkgoHelper()
	attempt := func(ctx context.Context) (string, error) {
		stdout, _, err := f.ExecTestapp(ctx, pod, "connect", "--timeout", "5s", addr)
		if _, ok := framework.ExitCode(err); err != nil && !ok {
			return "", fmt.Errorf("exec connect %s: %w", addr, err)
		}
		return strings.TrimSpace(stdout), nil
	}
	refused := func(out string) bool { return strings.HasPrefix(out, "refused ") }
	err := framework.WaitFor(ctx, "a connection to "+addr+" to be refused", reachTimeout, func(ctx context.Context) (bool, string, error) {
		out, err := attempt(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		// Until the node's kube-proxy has seen the new service (its
		// sync follows the API by a few hundred ms) the clusterIP is
		// just an address routed off the node, which may answer; so
		// wait for the refusal, then require it to last.
		return refused(out), out, nil
	})
	framework.ExpectNoError(err)
	err = framework.Consistently(ctx, "connections to "+addr+" to be refused", 3*time.Second, func(ctx context.Context) (bool, string, error) {
		out, err := attempt(ctx)
		if err != nil {
			return false, "", err
		}
		return refused(out), out, nil
	})
	framework.ExpectNoError(err)
}
