//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/kubelab/kubelab/e2e/framework"
)

// annotationConfigMirror marks the API's mirror of a kubelet's static pod.
const annotationConfigMirror = "kubernetes.io/config.mirror"

// controlPlaneComponents run as static pods on a kubeadm-style control
// plane (kubelab's, kind's), labelled component=<name>.
var controlPlaneComponents = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

var _ = framework.SIGDescribe("cluster-lifecycle", "Control plane", func() {
	ginkgo.It("should show each static control-plane pod as a Running, Ready mirror pod in kube-system owned by its node", func(ctx ginkgo.SpecContext) {
		c := framework.TestContext.Client
		v, err := c.Discovery().ServerVersion()
		framework.ExpectNoError(err)
		var mirrors []corev1.Pod
		err = framework.WaitFor(ctx, "a Running, Ready mirror pod of each control-plane component", time.Minute, func(ctx context.Context) (bool, string, error) {
			list, err := c.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			mirrors = mirrors[:0]
			var missing, states []string
			for _, name := range controlPlaneComponents {
				found := false
				for _, p := range list.Items {
					if _, ok := p.Annotations[annotationConfigMirror]; ok && p.Labels["component"] == name {
						mirrors = append(mirrors, p)
						states = append(states, framework.PodSummary(&p))
						found = found || p.Status.Phase == corev1.PodRunning && framework.PodConditionTrue(&p, corev1.PodReady)
					}
				}
				if !found {
					missing = append(missing, name)
				}
			}
			if len(mirrors) == 0 && !strings.Contains(v.GitVersion, "kubelab") {
				ginkgo.Skip(fmt.Sprintf("server %s shows no mirror pods in kube-system: its control plane does not run as static pods", v.GitVersion))
			}
			return len(missing) == 0, fmt.Sprintf("not running and ready: %v; mirror pods: %s", missing, strings.Join(states, "; ")), nil
		})
		framework.ExpectNoError(err)

		nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		framework.ExpectNoError(err)
		for _, p := range mirrors {
			gomega.Expect(p.Spec.NodeName).NotTo(gomega.BeEmpty(), "mirror pod %s is bound", p.Name)
			gomega.Expect(p.Name).To(gomega.HaveSuffix("-"+p.Spec.NodeName), "a mirror pod is named <static pod>-<node>")
			i := slices.IndexFunc(nodes.Items, func(n corev1.Node) bool { return n.Name == p.Spec.NodeName })
			gomega.Expect(i).NotTo(gomega.Equal(-1), "mirror pod %s runs on node %s, which exists", p.Name, p.Spec.NodeName)
			gomega.Expect(p.OwnerReferences).To(gomega.ContainElement(gomega.And(
				gomega.HaveField("Kind", "Node"), gomega.HaveField("Name", p.Spec.NodeName), gomega.HaveField("UID", nodes.Items[i].UID),
			)), "mirror pod %s is owned by its node", p.Name)
		}
	})
})

var _ = framework.SIGDescribe("apps", "Daemon set", func() {
	f := framework.New("daemonset")

	framework.ConformanceIt("should run one pod on every schedulable node", func(ctx ginkgo.SpecContext) {
		labels := map[string]string{"e2e.kubelab.io/daemon": "serve-hostname"}
		grace := int64(2)
		ds := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "serve-hostname"},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						TerminationGracePeriodSeconds: &grace,
						Containers:                    []corev1.Container{framework.TestContainer("app", "serve-hostname", "--port", "9376")},
					},
				},
			},
		}
		ds, err := f.Client.AppsV1().DaemonSets(f.NS()).Create(ctx, ds, metav1.CreateOptions{})
		framework.ExpectNoError(err)

		nodes, err := f.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		framework.ExpectNoError(err)
		want := schedulableNodes(nodes.Items, &ds.Spec.Template.Spec)
		gomega.Expect(want).NotTo(gomega.BeEmpty(), "the cluster has a node the daemon's pods may run on")
		framework.Logf("the daemon set's pods should run on %v", want)

		err = framework.WaitFor(ctx, "a Ready daemon pod on each of "+strings.Join(want, ", "), framework.TestContext.PodStartTimeout, func(ctx context.Context) (bool, string, error) {
			got, err := f.Client.AppsV1().DaemonSets(f.NS()).Get(ctx, ds.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			pods, err := f.Client.CoreV1().Pods(f.NS()).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(ds.Spec.Selector)})
			if err != nil {
				return false, err.Error(), nil
			}
			perNode := map[string]int{}
			var states []string
			for i := range pods.Items {
				p := &pods.Items[i]
				states = append(states, framework.PodSummary(p))
				if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && framework.PodConditionTrue(p, corev1.PodReady) {
					perNode[p.Spec.NodeName]++
				}
			}
			st := got.Status
			state := fmt.Sprintf("desired=%d current=%d ready=%d available=%d; pods: %s", st.DesiredNumberScheduled, st.CurrentNumberScheduled,
				st.NumberReady, st.NumberAvailable, strings.Join(states, "; "))
			if int(st.DesiredNumberScheduled) != len(want) || int(st.NumberAvailable) != len(want) || len(perNode) != len(want) {
				return false, state, nil
			}
			for _, n := range want {
				if perNode[n] != 1 {
					return false, state, nil
				}
			}
			return true, state, nil
		})
		framework.ExpectNoError(err)
	})
})

// schedulableNodes names the Ready, schedulable nodes whose NoSchedule and
// NoExecute taints pod tolerates: where a DaemonSet's pods should run.
func schedulableNodes(nodes []corev1.Node, pod *corev1.PodSpec) []string {
	var names []string
	for _, n := range nodes {
		if n.Spec.Unschedulable || !nodeReady(&n) {
			continue
		}
		if tolerates(n.Spec.Taints, pod.Tolerations) {
			names = append(names, n.Name)
		}
	}
	return names
}

// tolerates reports whether tolerations tolerate every NoSchedule and
// NoExecute taint of taints.
func tolerates(taints []corev1.Taint, tolerations []corev1.Toleration) bool {
	for i := range taints {
		t := &taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !slices.ContainsFunc(tolerations, func(tol corev1.Toleration) bool { return tol.ToleratesTaint(klog.Background(), t, false) }) {
			return false
		}
	}
	return true
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
