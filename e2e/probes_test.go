//go:build e2e

package e2e

import (
	"context"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubelab/kubelab/e2e/framework"
)

var _ = framework.SIGDescribe("node", "Probing container", func() {
	f := framework.New("probes")

	framework.ConformanceIt("should keep a pod out of Ready until its readiness probe succeeds, and never restart it for that", func(ctx ginkgo.SpecContext) {
		pod := framework.TestPod("readiness", "pause")
		pod.Spec.Volumes = []corev1.Volume{{Name: "state", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		c := &pod.Spec.Containers[0]
		c.VolumeMounts = []corev1.VolumeMount{{Name: "state", MountPath: "/state"}}
		c.ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/testapp", "exists", "/state/ready"}}},
			PeriodSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1, TimeoutSeconds: 5,
		}
		f.CreatePod(ctx, pod)
		f.WaitForPodRunning(ctx, pod.Name)

		ginkgo.By("checking the pod stays unready while the probe fails")
		framework.ExpectNoError(framework.Consistently(ctx, "pod readiness to stay unready", 5*time.Second, podNotReady(f, pod.Name)))

		ginkgo.By("making the probe succeed")
		_, _, err := f.Exec(ctx, framework.ExecOptions{Pod: pod.Name, Container: "app", Command: []string{"/testapp", "write-file", "/state/ready", "yes"}})
		framework.ExpectNoError(err)
		got := f.WaitForPodReady(ctx, pod.Name, 30*time.Second)
		gomega.Expect(framework.PodConditionTrue(got, corev1.ContainersReady)).To(gomega.BeTrue(), "ContainersReady with Ready: %s", framework.PodSummary(got))
		cs := framework.ContainerStatus(got, "app")
		gomega.Expect(cs.Ready).To(gomega.BeTrue())
		gomega.Expect(cs.RestartCount).To(gomega.BeZero(), "readiness failures never restart a container")
	})

	framework.ConformanceIt("should not be Ready before a readiness probe's initial delay and never restart", func(ctx ginkgo.SpecContext) {
		const delay = 8
		pod := framework.TestPod("readiness-delay", "netexec", "--http-port", "8080", "--udp-port", "0")
		pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
			InitialDelaySeconds: delay, PeriodSeconds: 1, FailureThreshold: 1,
		}
		f.CreatePod(ctx, pod)
		got := f.WaitForPodReady(ctx, pod.Name, framework.TestContext.PodStartTimeout)
		cs := framework.ContainerStatus(got, "app")
		gomega.Expect(cs.State.Running).NotTo(gomega.BeNil())
		readyAt := conditionTime(got, corev1.PodReady)
		// Timestamps have second precision: allow one second.
		gomega.Expect(readyAt.Sub(cs.State.Running.StartedAt.Time)).To(gomega.BeNumerically(">=", (delay-1)*time.Second),
			"Ready at %s, container started at %s", readyAt, cs.State.Running.StartedAt)
		gomega.Expect(cs.RestartCount).To(gomega.BeZero())
	})

	framework.ConformanceIt("should restart a container whose liveness probe fails and leave a healthy one alone", func(ctx ginkgo.SpecContext) {
		pod := framework.TestPod("liveness", "sleep")
		pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
		pod.Spec.Containers[0].Name = "unhealthy"
		pod.Spec.Containers[0].LivenessProbe = &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/testapp", "exists", "/no-such-file"}}},
			InitialDelaySeconds: 1, PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 5,
		}
		healthy := framework.TestContainer("healthy", "serve-hostname", "--port", "9376")
		healthy.LivenessProbe = &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9376)}},
			InitialDelaySeconds: 1, PeriodSeconds: 1, FailureThreshold: 1,
		}
		pod.Spec.Containers = append(pod.Spec.Containers, healthy)
		f.CreatePod(ctx, pod)
		got, err := f.WaitForPod(ctx, pod.Name, "to restart its unhealthy container", 2*time.Minute, func(p *corev1.Pod) (bool, error) {
			cs := framework.ContainerStatus(p, "unhealthy")
			return cs != nil && cs.RestartCount >= 1, nil
		})
		framework.ExpectNoError(err)
		gomega.Expect(framework.ContainerStatus(got, "healthy").RestartCount).To(gomega.BeZero(), "the healthy container: %s", framework.PodSummary(got))

		ginkgo.By("finding the kubelet's Unhealthy event")
		framework.ExpectNoError(framework.WaitFor(ctx, "an Unhealthy event for the liveness probe", 30*time.Second, func(ctx context.Context) (bool, string, error) {
			events, err := f.Client.CoreV1().Events(f.NS()).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			for _, e := range events.Items {
				if e.InvolvedObject.Name == pod.Name && e.Reason == "Unhealthy" {
					return true, "", nil
				}
			}
			return false, "no Unhealthy event yet", nil
		}))
	})
})

// podNotReady holds while the pod is Running and neither it nor its
// containers are ready.
func podNotReady(f *framework.Framework, name string) framework.Condition {
	return func(ctx context.Context) (bool, string, error) {
		p, err := f.Client.CoreV1().Pods(f.NS()).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		state := framework.PodSummary(p)
		if p.Status.Phase != corev1.PodRunning || framework.PodConditionTrue(p, corev1.PodReady) ||
			framework.PodConditionTrue(p, corev1.ContainersReady) {
			return false, state, nil
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Ready || cs.RestartCount > 0 {
				return false, state, nil
			}
		}
		return true, state, nil
	}
}

// conditionTime is when condition t of pod last changed.
func conditionTime(pod *corev1.Pod, t corev1.PodConditionType) time.Time {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}
