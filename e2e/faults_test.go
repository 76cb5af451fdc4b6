//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelab/kubelab/e2e/framework"
)

// Node role labels: a control-plane node is never disturbed.
var controlPlaneRoles = []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}

// The node fault specs kill a worker's kubelet or containerd, or stop its
// container, so they run alone (Serial); each leaves every node Ready.
var _ = framework.SIGDescribe("node", "Node faults", ginkgo.Serial, ginkgo.Label("Disruptive"), func() {
	f := framework.New("node-faults")

	ginkgo.It("should keep a node's pods running when its kubelet is killed, and restart the kubelet", func(ctx ginkgo.SpecContext) {
		node, dn := faultTarget(ctx, f)
		survivor := runOnNode(ctx, f, "survivor", node.Name)

		killedAt := killAndAwaitRestart(ctx, dn, node.Name, "kubelet")
		framework.ExpectNoError(framework.WaitForHeartbeat(ctx, f.Client, node.Name, killedAt, time.Minute))
		framework.ExpectNoError(framework.WaitForNodeReady(ctx, f.Client, node.Name, time.Minute))

		ginkgo.By("starting a new pod on " + node.Name)
		runOnNode(ctx, f, "after-restart", node.Name)
		expectUntouched(ctx, f, dn, survivor)
	})

	ginkgo.It("should keep a node's pods running when containerd is killed, and the kubelet should recover", func(ctx ginkgo.SpecContext) {
		node, dn := faultTarget(ctx, f)
		survivor := runOnNode(ctx, f, "survivor", node.Name)

		killedAt := killAndAwaitRestart(ctx, dn, node.Name, "containerd")
		err := framework.WaitFor(ctx, "the kubelet on "+node.Name+" to run", time.Minute, func(ctx context.Context) (bool, string, error) {
			p, err := dn.Process(ctx, "kubelet")
			if err != nil {
				return false, err.Error(), nil
			}
			return p.State == "RUNNING", fmt.Sprintf("%s pid %d", p.State, p.PID), nil
		})
		framework.ExpectNoError(err)
		framework.ExpectNoError(framework.WaitForHeartbeat(ctx, f.Client, node.Name, killedAt, time.Minute))
		framework.ExpectNoError(framework.WaitForNodeReady(ctx, f.Client, node.Name, time.Minute))

		ginkgo.By("starting a new pod on " + node.Name)
		runOnNode(ctx, f, "after-restart", node.Name)
		expectUntouched(ctx, f, dn, survivor)

		ginkgo.By("reading the survivor's log and running a command in it through the kubelet")
		logs, err := f.Logs(ctx, survivor.Name, &corev1.PodLogOptions{Container: "app"})
		framework.ExpectNoError(err)
		gomega.Expect(logs).To(gomega.ContainSubstring("hostname="+survivor.Name), "the log written before containerd was killed")
		out, _, err := f.Exec(ctx, framework.ExecOptions{Pod: survivor.Name, Container: "app", Command: []string{"/testapp", "env"}})
		framework.ExpectNoError(err)
		gomega.Expect(out).To(gomega.ContainSubstring("E2E_MARKER=survivor\n"))
	})

	ginkgo.It("should taint a stopped node unreachable, replace its pods on other nodes, and take the node back when it starts again", func(ctx ginkgo.SpecContext) {
		c := f.Client
		candidates := faultCandidates(ctx, f)
		if len(candidates) < 2 {
			ginkgo.Skip(fmt.Sprintf("needs two Ready, schedulable worker nodes (the stopped node's pods move to another); found %d", len(candidates)))
		}
		reachable := map[string]*framework.DockerNode{}
		var why []string
		for _, n := range candidates {
			dn, err := framework.NewDockerNode(ctx, n)
			if err != nil {
				why = append(why, fmt.Sprintf("%s: %v", n.Name, err))
				continue
			}
			reachable[n.Name] = dn
		}
		if len(reachable) == 0 {
			ginkgo.Skip("cannot reach any worker's machine: " + strings.Join(why, "; "))
		}

		ginkgo.By("running a ReplicaSet that tolerates unreachable nodes for 5 s")
		labels := map[string]string{"e2e.kubelab.io/app": "movable"}
		pod := framework.TestPod("movable", "serve-hostname", "--port", "9376")
		pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
		pod.Spec.TerminationGracePeriodSeconds = ptr(int64(2))
		five := ptr(int64(5))
		pod.Spec.Tolerations = []corev1.Toleration{
			{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: five},
			{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: five},
		}
		replicas := int32(3)
		rs, err := c.AppsV1().ReplicaSets(f.NS()).Create(ctx, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "movable"},
			Spec: appsv1.ReplicaSetSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod.Spec},
			},
		}, metav1.CreateOptions{})
		framework.ExpectNoError(err)
		pods := waitForReplicas(ctx, f, rs, "", framework.TestContext.PodStartTimeout)

		// The node to stop: a worker that runs some of the pods.
		var target *corev1.Node
		var dn *framework.DockerNode
		for _, n := range candidates {
			if d := reachable[n.Name]; d != nil && slices.ContainsFunc(pods, func(p corev1.Pod) bool { return p.Spec.NodeName == n.Name }) {
				target, dn = n, d
				break
			}
		}
		if target == nil {
			ginkgo.Skip(fmt.Sprintf("the ReplicaSet's pods run on no node the spec can reach (%v); unreachable: %s", podNodes(pods), strings.Join(why, "; ")))
		}
		var moved []types.UID
		for _, p := range pods {
			if p.Spec.NodeName == target.Name {
				moved = append(moved, p.UID)
			}
		}
		framework.Logf("stopping %s, which runs %d of the %d pods", target.Name, len(moved), len(pods))
		ginkgo.DeferCleanup(restoreNode, f, dn, ginkgo.NodeTimeout(4*time.Minute))

		stoppedAt := time.Now()
		framework.ExpectNoError(dn.Stop(ctx, 10*time.Second))
		ginkgo.By("waiting for " + target.Name + " to be unreachable")
		n, err := framework.WaitForNode(ctx, c, target.Name, "to be not Ready with the unreachable NoExecute taint", 2*time.Minute, func(n *corev1.Node) bool {
			return !framework.IsNodeReady(n) && framework.HasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)
		})
		framework.ExpectNoError(err)
		framework.Logf("%s: Ready=%s (%s) %s after the stop", target.Name, framework.NodeCondition(n, corev1.NodeReady).Status,
			framework.NodeCondition(n, corev1.NodeReady).Reason, time.Since(stoppedAt).Round(time.Second))

		ginkgo.By("waiting for the pods of " + target.Name + " to be evicted and replaced elsewhere")
		waitForReplicas(ctx, f, rs, target.Name, 2*time.Minute)
		terminating := 0
		for _, uid := range moved {
			if p := podByUID(ctx, f, labels, uid); p != nil {
				gomega.Expect(p.DeletionTimestamp).NotTo(gomega.BeNil(), "pod %s on the unreachable node is being deleted", p.Name)
				terminating++
			}
		}
		framework.Logf("pods replaced %s after the stop; %d of the %d evicted pods wait for their node to confirm their end",
			time.Since(stoppedAt).Round(time.Second), terminating, len(moved))

		ginkgo.By("starting " + target.Name + " again")
		startedAt := time.Now()
		framework.ExpectNoError(dn.Start(ctx))
		framework.ExpectNoError(framework.WaitForNodeReady(ctx, c, target.Name, 2*time.Minute))
		framework.Logf("%s Ready and untainted %s after its start", target.Name, time.Since(startedAt).Round(time.Second))
		err = framework.WaitFor(ctx, "the evicted pods of "+target.Name+" to be gone", time.Minute, func(ctx context.Context) (bool, string, error) {
			var left []string
			for _, uid := range moved {
				if p := podByUID(ctx, f, labels, uid); p != nil {
					left = append(left, framework.PodSummary(p))
				}
			}
			return len(left) == 0, strings.Join(left, "; "), nil
		})
		framework.ExpectNoError(err)
		runOnNode(ctx, f, "after-start", target.Name)
	})
})

// faultCandidates are the nodes a fault spec may disturb: Ready,
// schedulable workers without NoSchedule or NoExecute taints.
func faultCandidates(ctx context.Context, f *framework.Framework) []*corev1.Node {
	ginkgo.GinkgoHelper()
	nodes, err := f.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	framework.ExpectNoError(err)
	var out []*corev1.Node
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if n.Spec.Unschedulable || !framework.IsNodeReady(n) || !tolerates(n.Spec.Taints, nil) ||
			slices.ContainsFunc(controlPlaneRoles, func(l string) bool { _, ok := n.Labels[l]; return ok }) {
			continue
		}
		out = append(out, n)
	}
	return out
}

// faultTarget picks a worker the spec can reach with docker exec, or skips.
func faultTarget(ctx context.Context, f *framework.Framework) (*corev1.Node, *framework.DockerNode) {
	ginkgo.GinkgoHelper()
	candidates := faultCandidates(ctx, f)
	if len(candidates) == 0 {
		ginkgo.Skip("no Ready, schedulable worker node to disturb")
	}
	var why []string
	for _, n := range candidates {
		dn, err := framework.NewDockerNode(ctx, n)
		if err == nil {
			return n, dn
		}
		if !errors.Is(err, framework.ErrNoNodeAccess) {
			framework.ExpectNoError(err)
		}
		why = append(why, fmt.Sprintf("%s: %v", n.Name, err))
	}
	ginkgo.Skip("cannot reach any worker's machine: " + strings.Join(why, "; "))
	return nil, nil
}

// runOnNode runs a serve-hostname pod (restartPolicy Always, so a
// restart would show) on node and waits until it is Ready.
func runOnNode(ctx context.Context, f *framework.Framework, name, node string) *corev1.Pod {
	ginkgo.GinkgoHelper()
	pod := framework.TestPod(name, "serve-hostname", "--port", "9376")
	pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "E2E_MARKER", Value: name}}
	pinToNode(ctx, f, pod, node)
	f.CreatePod(ctx, pod)
	got := f.WaitForPodReady(ctx, pod.Name, framework.TestContext.PodStartTimeout)
	gomega.Expect(got.Spec.NodeName).To(gomega.Equal(node))
	return got
}

// expectUntouched checks that before's container still runs, never
// restarted: the same container ID in the API and the only one the node's
// runtime has for the pod.
func expectUntouched(ctx context.Context, f *framework.Framework, dn *framework.DockerNode, before *corev1.Pod) {
	ginkgo.GinkgoHelper()
	was := framework.ContainerStatus(before, "app")
	got, err := f.Client.CoreV1().Pods(f.NS()).Get(ctx, before.Name, metav1.GetOptions{})
	framework.ExpectNoError(err)
	cs := framework.ContainerStatus(got, "app")
	gomega.Expect(cs).NotTo(gomega.BeNil())
	gomega.Expect(got.Status.Phase).To(gomega.Equal(corev1.PodRunning), framework.PodSummary(got))
	gomega.Expect(cs.State.Running).NotTo(gomega.BeNil(), framework.PodSummary(got))
	gomega.Expect(cs.ContainerID).To(gomega.Equal(was.ContainerID), "the same container runs")
	gomega.Expect(cs.RestartCount).To(gomega.BeZero(), "the container never restarted")
	gomega.Expect(cs.State.Running.StartedAt.Equal(&was.State.Running.StartedAt)).To(gomega.BeTrue(), "started at %s, was %s", cs.State.Running.StartedAt, was.State.Running.StartedAt)

	_, id, _ := strings.Cut(was.ContainerID, "://")
	out, err := dn.Exec(ctx, "crictl", "ps", "--all", "--quiet", "--label", "io.kubernetes.pod.uid="+string(before.UID))
	framework.ExpectNoError(err, "list the pod's containers on %s", dn.Name)
	ids := strings.Fields(out)
	gomega.Expect(ids).To(gomega.HaveLen(1), "the node's runtime has one container of pod %s: %v", before.Name, ids)
	gomega.Expect(id).To(gomega.HavePrefix(ids[0]), "the node's runtime still runs the container the pod started with")
}

// waitForReplicas waits until rs has its replicas Running and Ready, none
// of them on avoid (nor being deleted), and returns those pods.
func waitForReplicas(ctx context.Context, f *framework.Framework, rs *appsv1.ReplicaSet, avoid string, timeout time.Duration) []corev1.Pod {
	ginkgo.GinkgoHelper()
	var ready []corev1.Pod
	desc := fmt.Sprintf("%d ready pods of ReplicaSet %s", *rs.Spec.Replicas, rs.Name)
	if avoid != "" {
		desc += " off node " + avoid
	}
	err := framework.WaitFor(ctx, desc, timeout, func(ctx context.Context) (bool, string, error) {
		list, err := f.Client.CoreV1().Pods(f.NS()).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(rs.Spec.Selector)})
		if err != nil {
			return false, err.Error(), nil
		}
		ready = ready[:0]
		var states []string
		for _, p := range list.Items {
			states = append(states, framework.PodSummary(&p))
			if p.DeletionTimestamp == nil && p.Spec.NodeName != avoid && p.Status.Phase == corev1.PodRunning &&
				framework.PodConditionTrue(&p, corev1.PodReady) {
				ready = append(ready, p)
			}
		}
		return len(ready) == int(*rs.Spec.Replicas), strings.Join(states, "; "), nil
	})
	framework.ExpectNoError(err)
	return ready
}

// podNodes names the nodes of pods.
func podNodes(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		if !slices.Contains(names, p.Spec.NodeName) {
			names = append(names, p.Spec.NodeName)
		}
	}
	return names
}

// podByUID returns the pod with uid among those labelled labels, or nil.
func podByUID(ctx context.Context, f *framework.Framework, labels map[string]string, uid types.UID) *corev1.Pod {
	ginkgo.GinkgoHelper()
	list, err := f.Client.CoreV1().Pods(f.NS()).List(ctx, metav1.ListOptions{
		LabelSelector: metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: labels}),
	})
	framework.ExpectNoError(err)
	for i := range list.Items {
		if list.Items[i].UID == uid {
			return &list.Items[i]
		}
	}
	return nil
}

// restoreNode starts dn's container if it is stopped and waits until its
// node is Ready again, so that the specs after this one find every node
// as it was, also when this one failed.
func restoreNode(ctx context.Context, f *framework.Framework, dn *framework.DockerNode) {
	running, err := dn.Running(ctx)
	framework.ExpectNoError(err)
	if !running {
		framework.ExpectNoError(dn.Start(ctx))
	}
	framework.ExpectNoError(framework.WaitForNodeReady(ctx, f.Client, dn.Name, 3*time.Minute))
}

// killAndAwaitRestart kills the node's program (kill -9 of the pid its
// supervisor reports RUNNING) and waits until the supervisor has started
// it again; it returns when the kill happened.
func killAndAwaitRestart(ctx context.Context, dn *framework.DockerNode, node, program string) time.Time {
	ginkgo.GinkgoHelper()
	p, err := dn.Process(ctx, program)
	framework.ExpectNoError(err)
	gomega.Expect(p.State).To(gomega.Equal("RUNNING"), "%s on %s", program, node)
	killedAt := time.Now()
	ginkgo.By(fmt.Sprintf("killing %s (pid %d) on %s", program, p.PID, node))
	framework.ExpectNoError(dn.Kill(ctx, p.PID, "KILL"))
	restarted, err := dn.WaitForProcessRestarted(ctx, program, p.PID, time.Minute)
	framework.ExpectNoError(err, "the node's supervisor restarts %s", program)
	framework.Logf("%s on %s: pid %d, was %d", program, node, restarted.PID, p.PID)
	return killedAt
}
