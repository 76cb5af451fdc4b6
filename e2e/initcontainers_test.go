//go:build e2e

package e2e

import (
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubelab/kubelab/e2e/framework"
)

var _ = framework.SIGDescribe("node", "InitContainer", func() {
	f := framework.New("init")

	framework.ConformanceIt("should run init containers in order, each to completion, before the app container", func(ctx ginkgo.SpecContext) {
		// init-1 writes a file; init-2 can only succeed if init-1 ran
		// first; init-3 writes another; the app prints both.
		pod := framework.TestPod("init-order", "cat", "/work/first", "/work/third")
		pod.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		mount := []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
		pod.Spec.InitContainers = []corev1.Container{
			framework.TestContainer("init-1", "write-file", "/work/first", "one;"),
			framework.TestContainer("init-2", "cat", "/work/first"),
			framework.TestContainer("init-3", "write-file", "/work/third", "three"),
		}
		for i := range pod.Spec.InitContainers {
			pod.Spec.InitContainers[i].VolumeMounts = mount
		}
		pod.Spec.Containers[0].VolumeMounts = mount
		f.CreatePod(ctx, pod)
		got := f.WaitForPodPhase(ctx, pod.Name, corev1.PodSucceeded)

		gomega.Expect(framework.PodConditionTrue(got, corev1.PodInitialized)).To(gomega.BeTrue(), framework.PodSummary(got))
		gomega.Expect(got.Status.InitContainerStatuses).To(gomega.HaveLen(3))
		var prevFinish corev1.ContainerStateTerminated
		for i, cs := range got.Status.InitContainerStatuses {
			gomega.Expect(cs.Name).To(gomega.Equal(pod.Spec.InitContainers[i].Name), "init container statuses follow the spec's order")
			term := cs.State.Terminated
			gomega.Expect(term).NotTo(gomega.BeNil(), "init container %s: %s", cs.Name, framework.PodSummary(got))
			gomega.Expect(term.ExitCode).To(gomega.BeZero(), "init container %s", cs.Name)
			gomega.Expect(term.Reason).To(gomega.Equal("Completed"), "init container %s", cs.Name)
			if i > 0 {
				gomega.Expect(term.StartedAt.Before(&prevFinish.FinishedAt)).To(gomega.BeFalse(),
					"%s started at %s, before its predecessor finished at %s", cs.Name, term.StartedAt, prevFinish.FinishedAt)
			}
			prevFinish = *term
		}
		app := framework.ContainerStatus(got, "app")
		gomega.Expect(app.State.Terminated).NotTo(gomega.BeNil())
		gomega.Expect(app.State.Terminated.StartedAt.Before(&prevFinish.FinishedAt)).To(gomega.BeFalse(), "the app started after the last init container finished")

		logs, err := f.Logs(ctx, pod.Name, &corev1.PodLogOptions{Container: "init-2"})
		framework.ExpectNoError(err)
		gomega.Expect(logs).To(gomega.Equal("one;"), "init-2 read what init-1 wrote")
		logs, err = f.Logs(ctx, pod.Name, &corev1.PodLogOptions{Container: "app"})
		framework.ExpectNoError(err)
		gomega.Expect(logs).To(gomega.Equal("one;three"))
	})

	framework.ConformanceIt("should not start app containers and should fail the pod when an init container fails with restartPolicy Never", func(ctx ginkgo.SpecContext) {
		pod := framework.TestPod("init-fails", "sleep")
		pod.Spec.InitContainers = []corev1.Container{
			framework.TestContainer("init-1", "exit", "--code", "0"),
			framework.TestContainer("init-2", "exit", "--code", "7"),
			framework.TestContainer("init-3", "exit", "--code", "0"),
		}
		f.CreatePod(ctx, pod)
		got := f.WaitForPodPhase(ctx, pod.Name, corev1.PodFailed)
		gomega.Expect(framework.PodConditionTrue(got, corev1.PodInitialized)).To(gomega.BeFalse(), framework.PodSummary(got))
		failed := framework.ContainerStatus(got, "init-2")
		gomega.Expect(failed.State.Terminated).NotTo(gomega.BeNil(), framework.PodSummary(got))
		gomega.Expect(failed.State.Terminated.ExitCode).To(gomega.BeEquivalentTo(7))
		next := framework.ContainerStatus(got, "init-3")
		gomega.Expect(next == nil || next.State.Running == nil && next.State.Terminated == nil).To(gomega.BeTrue(), "init-3 never ran: %s", framework.PodSummary(got))
		app := framework.ContainerStatus(got, "app")
		gomega.Expect(app == nil || app.State.Running == nil && app.State.Terminated == nil || app.State.Terminated != nil && app.State.Terminated.StartedAt.IsZero()).
			To(gomega.BeTrue(), "the app container never started: %s", framework.PodSummary(got))
	})
})
