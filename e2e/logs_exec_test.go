//go:build e2e

package e2e

import (
	"bufio"
	"errors"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/exec"

	"github.com/kubelab/kubelab/e2e/framework"
)

var _ = framework.SIGDescribe("node", "Container logs and exec", func() {
	f := framework.New("logs-exec")

	framework.ConformanceIt("should return a container's log, its tail and timestamps, and follow a running container", func(ctx ginkgo.SpecContext) {
		done := framework.TestPod("logs-done", "env")
		done.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "E2E_MARKER", Value: "logged"}, {Name: "ZZ_LAST", Value: "last line"}}
		f.CreatePod(ctx, done)
		f.WaitForPodPhase(ctx, done.Name, corev1.PodSucceeded)

		logs, err := f.Logs(ctx, done.Name, &corev1.PodLogOptions{Container: "app"})
		framework.ExpectNoError(err)
		gomega.Expect(logs).To(gomega.ContainSubstring("E2E_MARKER=logged\n"))
		gomega.Expect(logs).To(gomega.HaveSuffix("ZZ_LAST=last line\n"), "env prints sorted names, ZZ_LAST last")

		tail, err := f.Logs(ctx, done.Name, &corev1.PodLogOptions{Container: "app", TailLines: ptr(int64(1))})
		framework.ExpectNoError(err)
		gomega.Expect(tail).To(gomega.Equal("ZZ_LAST=last line\n"), "tailLines=1")

		stamped, err := f.Logs(ctx, done.Name, &corev1.PodLogOptions{Container: "app", TailLines: ptr(int64(1)), Timestamps: true})
		framework.ExpectNoError(err)
		stamp, line, ok := strings.Cut(strings.TrimSuffix(stamped, "\n"), " ")
		gomega.Expect(ok).To(gomega.BeTrue(), "timestamped line %q", stamped)
		gomega.Expect(line).To(gomega.Equal("ZZ_LAST=last line"))
		_, err = time.Parse(time.RFC3339Nano, stamp)
		framework.ExpectNoError(err, "timestamp %q", stamp)

		ginkgo.By("following the log of a running container")
		running := framework.TestPod("logs-follow", "serve-hostname", "--port", "9376")
		f.CreatePod(ctx, running)
		f.WaitForPodRunning(ctx, running.Name)
		stream, err := f.Client.CoreV1().Pods(f.NS()).GetLogs(running.Name, &corev1.PodLogOptions{Container: "app", Follow: true}).Stream(ctx)
		framework.ExpectNoError(err)
		defer stream.Close()
		found := make(chan string, 1)
		go func() {
			defer ginkgo.GinkgoRecover()
			sc := bufio.NewScanner(stream)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "serving hostname") {
					found <- sc.Text()
					return
				}
			}
			found <- ""
		}()
		select {
		case line := <-found:
			gomega.Expect(line).To(gomega.ContainSubstring("hostname="+running.Name), "serve-hostname logs the pod's hostname")
		case <-time.After(30 * time.Second):
			framework.Failf("no 'serving hostname' line in the followed log within 30s")
		}
	})

	framework.ConformanceIt("should exec commands in a container with stdin, stdout, stderr and exit codes", func(ctx ginkgo.SpecContext) {
		pod := framework.TestPod("exec", "pause")
		pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "E2E_MARKER", Value: "exec"}}
		f.CreatePod(ctx, pod)
		f.WaitForPodRunning(ctx, pod.Name)
		run := func(stdin string, cmd ...string) (string, string, error) {
			o := framework.ExecOptions{Pod: pod.Name, Container: "app", Command: cmd}
			if stdin != "" {
				o.Stdin = strings.NewReader(stdin)
			}
			return f.Exec(ctx, o)
		}

		out, _, err := run("", "/testapp", "env")
		framework.ExpectNoError(err)
		gomega.Expect(out).To(gomega.ContainSubstring("E2E_MARKER=exec\n"), "the command runs in the container's environment")

		ginkgo.By("streaming standard input")
		out, _, err = run("piped through exec", "/testapp", "cat", "/dev/stdin")
		framework.ExpectNoError(err)
		gomega.Expect(out).To(gomega.Equal("piped through exec"))

		ginkgo.By("reporting standard error and the exit code")
		_, stderr, err := run("", "/testapp", "cat", "/no-such-file")
		gomega.Expect(stderr).To(gomega.ContainSubstring("/no-such-file"))
		expectExitCode(err, 1)
		_, _, err = run("", "/testapp", "exit", "--code", "42")
		expectExitCode(err, 42)
	})
})

// expectExitCode checks that err is a remote command's exit with code.
func expectExitCode(err error, code int) {
	ginkgo.GinkgoHelper()
	gomega.Expect(err).To(gomega.HaveOccurred(), "the command should fail with exit code %d", code)
	var exit exec.ExitError
	gomega.Expect(errors.As(err, &exit)).To(gomega.BeTrue(), "error %v (%T) is not an exit error", err, err)
	gomega.Expect(exit.ExitStatus()).To(gomega.Equal(code))
}
