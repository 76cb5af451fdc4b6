//go:build e2e

package e2e

import (
	"context"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubelab/kubelab/e2e/framework"
)

var _ = framework.SIGDescribe("node", "Pods lifecycle", func() {
	f := framework.New("pods")

	framework.ConformanceIt("should go Pending -> Running -> Succeeded for a container that exits 0", func(ctx ginkgo.SpecContext) {
		pod := framework.TestPod("phases", "exit", "--code", "0", "--after", "5s")
		phases := watchPhases(ctx, f, pod, corev1.PodSucceeded)
		gomega.Expect(phases).To(gomega.Equal([]corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded}),
			"the phases the pod went through, as a watch saw them")

		got, err := f.Client.CoreV1().Pods(f.NS()).Get(ctx, pod.Name, metav1.GetOptions{})
		framework.ExpectNoError(err)
		for _, c := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized} {
			gomega.Expect(framework.PodConditionTrue(got, c)).To(gomega.BeTrue(), "condition %s of %s", c, framework.PodSummary(got))
		}
		gomega.Expect(framework.PodConditionTrue(got, corev1.PodReady)).To(gomega.BeFalse(), "a completed pod is not Ready")
		gomega.Expect(got.Status.StartTime).NotTo(gomega.BeNil(), "status.startTime")
		cs := framework.ContainerStatus(got, "app")
		gomega.Expect(cs).NotTo(gomega.BeNil())
		gomega.Expect(cs.State.Terminated).NotTo(gomega.BeNil(), "state of %s", framework.PodSummary(got))
		term := cs.State.Terminated
		gomega.Expect(term.ExitCode).To(gomega.BeZero())
		gomega.Expect(term.Reason).To(gomega.Equal("Completed"))
		gomega.Expect(term.FinishedAt.Sub(term.StartedAt.Time)).To(gomega.BeNumerically(">=", 4*time.Second),
			"the container ran for its 5 s (timestamps have second precision)")
		gomega.Expect(cs.RestartCount).To(gomega.BeZero())
	})

	framework.ConformanceIt("should be Failed with the container's exit code and reason Error when it exits non-zero", func(ctx ginkgo.SpecContext) {
		pod := f.CreatePod(ctx, framework.TestPod("fail", "exit", "--code", "3", "--after", "1s"))
		got := f.WaitForPodPhase(ctx, pod.Name, corev1.PodFailed)
		cs := framework.ContainerStatus(got, "app")
		gomega.Expect(cs).NotTo(gomega.BeNil())
		gomega.Expect(cs.State.Terminated).NotTo(gomega.BeNil(), "state of %s", framework.PodSummary(got))
		gomega.Expect(cs.State.Terminated.ExitCode).To(gomega.BeEquivalentTo(3))
		gomega.Expect(cs.State.Terminated.Reason).To(gomega.Equal("Error"))
		gomega.Expect(cs.RestartCount).To(gomega.BeZero(), "restartPolicy Never")
	})

	ginkgo.It("should count restarts of a crashing container and back off with CrashLoopBackOff", func(ctx ginkgo.SpecContext) {
		pod := framework.TestPod("crashloop", "crash")
		pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
		pod = f.CreatePod(ctx, pod)
		sawBackOff := false
		got, err := f.WaitForPod(ctx, pod.Name, "to restart twice and back off", 3*time.Minute, func(p *corev1.Pod) (bool, error) {
			cs := framework.ContainerStatus(p, "app")
			if cs == nil {
				return false, nil
			}
			if cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" {
				sawBackOff = true
			}
			return sawBackOff && cs.RestartCount >= 2, nil
		})
		framework.ExpectNoError(err)
		gomega.Expect(got.Status.Phase).To(gomega.Equal(corev1.PodRunning), "a crash-looping pod with restartPolicy Always stays Running")
		cs := framework.ContainerStatus(got, "app")
		last := cs.LastTerminationState.Terminated
		gomega.Expect(last).NotTo(gomega.BeNil(), "lastState of %s", framework.PodSummary(got))
		gomega.Expect(last.ExitCode).To(gomega.BeEquivalentTo(1))
		gomega.Expect(last.Reason).To(gomega.Equal("Error"))

		ginkgo.By("reading the log of the previous instance")
		logs, err := f.Logs(ctx, pod.Name, &corev1.PodLogOptions{Container: "app", Previous: true})
		framework.ExpectNoError(err)
		gomega.Expect(logs).To(gomega.ContainSubstring("crashing on purpose"))
	})

	framework.ConformanceIt("should honour terminationGracePeriodSeconds and preStop hooks on delete, then remove the pod", func(ctx ginkgo.SpecContext) {
		// slow: the preStop hook takes 4 s of a 30 s grace period, then
		// SIGTERM ends the container at once. stuck: the hook would take
		// 10 minutes, but the grace period is 3 s.
		slow := framework.TestPod("slow-stop", "sleep")
		slow.Spec.TerminationGracePeriodSeconds = ptr(int64(30))
		slow.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: execHandler("/testapp", "sleep", "4s")}
		stuck := framework.TestPod("stuck-stop", "sleep")
		stuck.Spec.TerminationGracePeriodSeconds = ptr(int64(3))
		stuck.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: execHandler("/testapp", "sleep", "600s")}
		for _, p := range []*corev1.Pod{slow, stuck} {
			f.CreatePod(ctx, p)
		}
		for _, p := range []*corev1.Pod{slow, stuck} {
			f.WaitForPodRunning(ctx, p.Name)
		}

		type result struct {
			name    string
			elapsed time.Duration
			err     error
		}
		done := make(chan result, 2)
		for _, p := range []*corev1.Pod{slow, stuck} {
			got, err := f.Client.CoreV1().Pods(f.NS()).Get(ctx, p.Name, metav1.GetOptions{})
			framework.ExpectNoError(err)
			start := time.Now()
			framework.ExpectNoError(f.Client.CoreV1().Pods(f.NS()).Delete(ctx, p.Name, metav1.DeleteOptions{}))
			deleting, err := f.Client.CoreV1().Pods(f.NS()).Get(ctx, p.Name, metav1.GetOptions{})
			framework.ExpectNoError(err, "a pod on a node stays until its kubelet has stopped it")
			gomega.Expect(deleting.DeletionTimestamp).NotTo(gomega.BeNil())
			gomega.Expect(deleting.DeletionGracePeriodSeconds).To(gomega.HaveValue(gomega.Equal(*p.Spec.TerminationGracePeriodSeconds)))
			go func() {
				defer ginkgo.GinkgoRecover()
				err := f.WaitForPodGone(ctx, p.Name, got.UID, time.Minute)
				done <- result{p.Name, time.Since(start), err}
			}()
		}
		elapsed := map[string]time.Duration{}
		for range 2 {
			r := <-done
			framework.ExpectNoError(r.err)
			framework.Logf("pod %s was gone %s after its deletion", r.name, r.elapsed.Round(time.Millisecond))
			elapsed[r.name] = r.elapsed
		}
		gomega.Expect(elapsed[slow.Name]).To(gomega.BeNumerically(">=", 4*time.Second), "the preStop hook ran to its end before the pod went")
		gomega.Expect(elapsed[slow.Name]).To(gomega.BeNumerically("<", 25*time.Second), "SIGTERM ended the container after the hook, well within the grace period")
		gomega.Expect(elapsed[stuck.Name]).To(gomega.BeNumerically(">=", 2*time.Second), "the kubelet waited for the grace period")
		gomega.Expect(elapsed[stuck.Name]).To(gomega.BeNumerically("<", 25*time.Second), "the kubelet killed the container once its 3 s grace period was over")
	})
})

// watchPhases creates pod and returns the distinct phases a watch saw it
// in, in order, until it reached final (or another terminal phase).
func watchPhases(ctx context.Context, f *framework.Framework, pod *corev1.Pod, final corev1.PodPhase) []corev1.PodPhase {
	ginkgo.GinkgoHelper()
	w, err := f.Client.CoreV1().Pods(f.NS()).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", pod.Name).String(),
	})
	framework.ExpectNoError(err, "watch pod %s", pod.Name)
	defer w.Stop()
	f.CreatePod(ctx, pod)
	timeout := time.NewTimer(framework.TestContext.PodStartTimeout)
	defer timeout.Stop()
	var phases []corev1.PodPhase
	var last *corev1.Pod
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				framework.Failf("the watch of pod %s closed early; phases so far %v", pod.Name, phases)
			}
			if ev.Type == watch.Error {
				framework.Failf("watch of pod %s: %v", pod.Name, ev.Object)
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			last = p
			if n := len(phases); n == 0 || phases[n-1] != p.Status.Phase {
				framework.Logf("pod %s: %s", p.Name, framework.PodSummary(p))
				phases = append(phases, p.Status.Phase)
			}
			if p.Status.Phase == final || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
				return phases
			}
		case <-timeout.C:
			framework.Failf("pod %s did not reach %s within %s; phases %v, last %s", pod.Name, final,
				framework.TestContext.PodStartTimeout, phases, framework.PodSummary(last))
		case <-ctx.Done():
			framework.Failf("watching pod %s: %v", pod.Name, ctx.Err())
		}
	}
}

func execHandler(cmd ...string) *corev1.LifecycleHandler {
	return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}
}

func ptr[T any](v T) *T { return &v }
