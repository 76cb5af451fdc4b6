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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubelab/kubelab/e2e/framework"
)

// Images no node holds and no registry serves: absentImage is never
// pulled (pull policy Never); unpullableImage names a registry on a port
// nothing listens on, so a pull fails at once on any cluster.
const (
	absentImage     = "registry.invalid/kubelab-e2e/absent:never"
	unpullableImage = "localhost:1/kubelab-e2e/absent:1.0"
	missingCommand  = "/no-such-command"
)

var _ = framework.SIGDescribe("node", "Pods with bad input", func() {
	f := framework.New("bad-input")

	ginkgo.It("should report ErrImageNeverPull with a Warning event for an absent image with imagePullPolicy Never, and leave the node unaffected", func(ctx ginkgo.SpecContext) {
		pod := framework.TestPod("never-pull", "pause")
		pod.Spec.Containers[0].Image = absentImage
		pod.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
		got := createAndFollow(ctx, f, pod, "to wait with ErrImageNeverPull", func(p *corev1.Pod) bool {
			return waitingReason(p, "app") == "ErrImageNeverPull"
		})
		w := framework.ContainerStatus(got, "app").State.Waiting
		gomega.Expect(w.Message).To(gomega.ContainSubstring(absentImage), "the waiting message names the image")
		gomega.Expect(got.Status.Phase).To(gomega.Equal(corev1.PodPending))

		waitForEvent(ctx, f, pod.Name, corev1.EventTypeWarning, "ErrImageNeverPull", absentImage)
		waitForEvent(ctx, f, pod.Name, corev1.EventTypeWarning, "Failed", "Error: ErrImageNeverPull")
		expectNodeUnaffected(ctx, f, got.Spec.NodeName)
	})

	ginkgo.It("should report ErrImagePull, then ImagePullBackOff, for an image that cannot be pulled, and leave the node unaffected", func(ctx ginkgo.SpecContext) {
		pod := framework.TestPod("cannot-pull", "pause")
		pod.Spec.Containers[0].Image = unpullableImage
		pod.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
		var seen []string
		got := createAndFollow(ctx, f, pod, "to wait with ErrImagePull, then ImagePullBackOff", func(p *corev1.Pod) bool {
			if r := waitingReason(p, "app"); r != "" && (len(seen) == 0 || seen[len(seen)-1] != r) {
				seen = append(seen, r)
			}
			i := slices.Index(seen, "ErrImagePull")
			return i >= 0 && slices.Contains(seen[i:], "ImagePullBackOff")
		})
		framework.Logf("waiting reasons of %s, in order: %v", pod.Name, seen)
		gomega.Expect(got.Status.Phase).To(gomega.Equal(corev1.PodPending))
		gomega.Expect(framework.ContainerStatus(got, "app").State.Waiting.Message).To(gomega.ContainSubstring(unpullableImage))

		waitForEvent(ctx, f, pod.Name, corev1.EventTypeWarning, "Failed", fmt.Sprintf("Failed to pull image %q", unpullableImage))
		waitForEvent(ctx, f, pod.Name, corev1.EventTypeWarning, "Failed", "Error: ErrImagePull")
		waitForEvent(ctx, f, pod.Name, corev1.EventTypeNormal, "BackOff", fmt.Sprintf("Back-off pulling image %q", unpullableImage))
		expectNodeUnaffected(ctx, f, got.Spec.NodeName)
	})

	ginkgo.It("should end a container whose command does not exist with StartError and exit code 128, back it off when it restarts, and leave the node unaffected", func(ctx ginkgo.SpecContext) {
		never := framework.TestPod("bad-command-never")
		never.Spec.Containers[0].Command = []string{missingCommand}
		always := framework.TestPod("bad-command-always")
		always.Spec.Containers[0].Command = []string{missingCommand}
		always.Spec.RestartPolicy = corev1.RestartPolicyAlways

		ginkgo.By("restartPolicy Never: the pod fails with the start error")
		f.CreatePod(ctx, never)
		got := f.WaitForPodPhase(ctx, never.Name, corev1.PodFailed)
		term := framework.ContainerStatus(got, "app").State.Terminated
		gomega.Expect(term).NotTo(gomega.BeNil(), "state of %s", framework.PodSummary(got))
		gomega.Expect(term.Reason).To(gomega.Equal("StartError"))
		gomega.Expect(term.ExitCode).To(gomega.BeEquivalentTo(128))
		gomega.Expect(term.Message).To(gomega.ContainSubstring(missingCommand), "the runtime's message names the command")
		waitForEvent(ctx, f, never.Name, corev1.EventTypeWarning, "Failed", missingCommand)

		ginkgo.By("restartPolicy Always: the start is retried, then backed off")
		var seen []string
		got = createAndFollow(ctx, f, always, "to be in CrashLoopBackOff after a StartError", func(p *corev1.Pod) bool {
			cs := framework.ContainerStatus(p, "app")
			if r := waitingReason(p, "app"); r != "" && (len(seen) == 0 || seen[len(seen)-1] != r) {
				seen = append(seen, r)
			}
			return cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" && cs.RestartCount >= 1
		})
		framework.Logf("waiting reasons of %s, in order: %v", always.Name, seen)
		gomega.Expect(seen).To(gomega.HaveEach(gomega.BeElementOf("ContainerCreating", "RunContainerError", "CrashLoopBackOff")),
			"a container that cannot start waits with RunContainerError, then CrashLoopBackOff")
		last := framework.ContainerStatus(got, "app").LastTerminationState.Terminated
		gomega.Expect(last).NotTo(gomega.BeNil(), "lastState of %s", framework.PodSummary(got))
		gomega.Expect(last.Reason).To(gomega.Equal("StartError"))
		gomega.Expect(last.ExitCode).To(gomega.BeEquivalentTo(128))
		gomega.Expect(got.Status.Phase).NotTo(gomega.Equal(corev1.PodFailed), "a pod with restartPolicy Always does not fail")
		waitForEvent(ctx, f, always.Name, corev1.EventTypeWarning, "Failed", missingCommand)
		waitForEvent(ctx, f, always.Name, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container app")
		expectNodeUnaffected(ctx, f, got.Spec.NodeName)
	})

	ginkgo.It("should keep a pod whose configMap and secret volumes do not exist in ContainerCreating with FailedMount events, and start it once they exist", func(ctx ginkgo.SpecContext) {
		pod := framework.TestPod("missing-volumes", "cat", "/etc/config/greeting", "/etc/secret/token")
		pod.Spec.Volumes = []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "absent-config"}}}},
			{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "absent-secret"}}},
		}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
			{Name: "config", MountPath: "/etc/config", ReadOnly: true},
			{Name: "secret", MountPath: "/etc/secret", ReadOnly: true},
		}
		got := createAndFollow(ctx, f, pod, "to be bound to a node", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" })
		node := got.Spec.NodeName

		waitForEvent(ctx, f, pod.Name, corev1.EventTypeWarning, "FailedMount", `configmap "absent-config" not found`)
		err := framework.Consistently(ctx, "pod "+pod.Name+" to wait in ContainerCreating", 5*time.Second, func(ctx context.Context) (bool, string, error) {
			p, err := f.Client.CoreV1().Pods(f.NS()).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			r := waitingReason(p, "app")
			return p.Status.Phase == corev1.PodPending && (r == "" || r == "ContainerCreating"), framework.PodSummary(p), nil
		})
		framework.ExpectNoError(err)
		expectNodeUnaffected(ctx, f, node)

		ginkgo.By("creating the configMap: the secret is still missing")
		_, err = f.Client.CoreV1().ConfigMaps(f.NS()).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "absent-config"}, Data: map[string]string{"greeting": "hello "},
		}, metav1.CreateOptions{})
		framework.ExpectNoError(err)
		waitForEvent(ctx, f, pod.Name, corev1.EventTypeWarning, "FailedMount", `secret "absent-secret" not found`)
		p, err := f.Client.CoreV1().Pods(f.NS()).Get(ctx, pod.Name, metav1.GetOptions{})
		framework.ExpectNoError(err)
		gomega.Expect(p.Status.Phase).To(gomega.Equal(corev1.PodPending), "a pod with a missing volume does not start: %s", framework.PodSummary(p))

		ginkgo.By("creating the secret: the pod starts and reads both")
		_, err = f.Client.CoreV1().Secrets(f.NS()).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "absent-secret"}, Data: map[string][]byte{"token": []byte("t0k3n")},
		}, metav1.CreateOptions{})
		framework.ExpectNoError(err)
		f.WaitForPodPhase(ctx, pod.Name, corev1.PodSucceeded)
		logs, err := f.Logs(ctx, pod.Name, &corev1.PodLogOptions{Container: "app"})
		framework.ExpectNoError(err)
		gomega.Expect(logs).To(gomega.Equal("hello t0k3n"))
	})
})

// createAndFollow creates pod and follows it with a watch until done holds
// for a version of it, and returns that version. done sees every version
// the watch delivers, so states that last a moment are not missed.
func createAndFollow(ctx context.Context, f *framework.Framework, pod *corev1.Pod, desc string, done func(*corev1.Pod) bool) *corev1.Pod {
	ginkgo.GinkgoHelper()
	w, err := f.Client.CoreV1().Pods(f.NS()).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", pod.Name).String(),
	})
	framework.ExpectNoError(err, "watch pod %s", pod.Name)
	defer w.Stop()
	f.CreatePod(ctx, pod)
	timeout := time.NewTimer(framework.TestContext.PodStartTimeout)
	defer timeout.Stop()
	var last *corev1.Pod
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				framework.Failf("the watch of pod %s closed before it was %s; last %s", pod.Name, desc, framework.PodSummary(last))
			}
			if ev.Type == watch.Error {
				framework.Failf("watch of pod %s: %v", pod.Name, ev.Object)
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			last = p
			if done(p) {
				framework.Logf("pod %s %s: %s", pod.Name, desc, framework.PodSummary(p))
				return p
			}
		case <-timeout.C:
			framework.Failf("pod %s was not %s within %s; last %s", pod.Name, desc, framework.TestContext.PodStartTimeout, framework.PodSummary(last))
		case <-ctx.Done():
			framework.Failf("following pod %s: %v", pod.Name, ctx.Err())
		}
	}
}

// waitingReason is container name's waiting reason ("" when it does not wait).
func waitingReason(pod *corev1.Pod, name string) string {
	if cs := framework.ContainerStatus(pod, name); cs != nil && cs.State.Waiting != nil {
		return cs.State.Waiting.Reason
	}
	return ""
}

// waitForEvent waits for an event of type and reason about pod in the
// spec's namespace whose message contains text, and returns it.
func waitForEvent(ctx context.Context, f *framework.Framework, pod, eventType, reason, text string) *corev1.Event {
	ginkgo.GinkgoHelper()
	var found *corev1.Event
	desc := fmt.Sprintf("a %s event %s about pod %s saying %q", eventType, reason, pod, text)
	err := framework.WaitFor(ctx, desc, framework.TestContext.PodStartTimeout, func(ctx context.Context) (bool, string, error) {
		list, err := f.Client.CoreV1().Events(f.NS()).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "list events: " + err.Error(), nil
		}
		var about []string
		for i := range list.Items {
			e := &list.Items[i]
			if e.InvolvedObject.Kind != "Pod" || e.InvolvedObject.Name != pod {
				continue
			}
			about = append(about, fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Message))
			if e.Type == eventType && e.Reason == reason && strings.Contains(e.Message, text) {
				found = e
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("events about %s: %s", pod, strings.Join(about, "; ")), nil
	})
	framework.ExpectNoError(err)
	framework.Logf("event %s %s: %s", found.Type, found.Reason, found.Message)
	return found
}

// expectNodeUnaffected checks that node is Ready and still runs a healthy
// pod pinned to it.
func expectNodeUnaffected(ctx context.Context, f *framework.Framework, node string) {
	ginkgo.GinkgoHelper()
	gomega.Expect(node).NotTo(gomega.BeEmpty(), "the pod was bound to a node")
	ginkgo.By("checking that node " + node + " still runs a healthy pod")
	healthy := framework.TestPod("healthy", "pause")
	pinToNode(ctx, f, healthy, node)
	f.CreatePod(ctx, healthy)
	got := f.WaitForPodRunning(ctx, healthy.Name)
	gomega.Expect(got.Spec.NodeName).To(gomega.Equal(node))
	n, err := f.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	framework.ExpectNoError(err)
	gomega.Expect(framework.IsNodeReady(n)).To(gomega.BeTrue(), "node %s is Ready: %+v", node, framework.NodeCondition(n, corev1.NodeReady))
}

// pinToNode makes pod run on node: a nodeSelector on its
// kubernetes.io/hostname label, through the scheduler (spec.nodeName
// when the node lacks the label).
func pinToNode(ctx context.Context, f *framework.Framework, pod *corev1.Pod, node string) {
	ginkgo.GinkgoHelper()
	n, err := f.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	framework.ExpectNoError(err)
	if h := n.Labels[corev1.LabelHostname]; h != "" {
		pod.Spec.NodeSelector = map[string]string{corev1.LabelHostname: h}
		return
	}
	pod.Spec.NodeName = node
}
