//go:build e2e

package e2e

import (
	"context"
	"strings"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/e2e/framework"
)

var _ = framework.SIGDescribe("storage", "Volumes and environment", func() {
	f := framework.New("volumes")

	// runToLogs runs pod to Succeeded and returns the log of container.
	runToLogs := func(ctx context.Context, pod *corev1.Pod, container string) string {
		ginkgo.GinkgoHelper()
		f.CreatePod(ctx, pod)
		f.WaitForPodPhase(ctx, pod.Name, corev1.PodSucceeded)
		logs, err := f.Logs(ctx, pod.Name, &corev1.PodLogOptions{Container: container})
		framework.ExpectNoError(err)
		return logs
	}

	framework.ConformanceIt("should make a configMap's keys files of a configMap volume", func(ctx ginkgo.SpecContext) {
		cm, err := f.Client.CoreV1().ConfigMaps(f.NS()).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "config"},
			Data:       map[string]string{"data-1": "value-1\n", "data-2": "value-2\n"},
		}, metav1.CreateOptions{})
		framework.ExpectNoError(err)
		// app mounts every key; items mounts one key under another path.
		pod := framework.TestPod("configmap-volume", "cat", "/etc/config/data-1", "/etc/config/data-2")
		pod.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name},
		}}}, {Name: "items", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name},
			Items:                []corev1.KeyToPath{{Key: "data-2", Path: "renamed"}},
		}}}}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/etc/config", ReadOnly: true}}
		items := framework.TestContainer("items", "cat", "/etc/items/renamed")
		items.VolumeMounts = []corev1.VolumeMount{{Name: "items", MountPath: "/etc/items", ReadOnly: true}}
		pod.Spec.Containers = append(pod.Spec.Containers, items)
		gomega.Expect(runToLogs(ctx, pod, "app")).To(gomega.Equal("value-1\nvalue-2\n"))
		logs, err := f.Logs(ctx, pod.Name, &corev1.PodLogOptions{Container: "items"})
		framework.ExpectNoError(err)
		gomega.Expect(logs).To(gomega.Equal("value-2\n"), "items map a key to a path")
	})

	framework.ConformanceIt("should make a secret's keys files of a secret volume", func(ctx ginkgo.SpecContext) {
		secret, err := f.Client.CoreV1().Secrets(f.NS()).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "secret"},
			Data:       map[string][]byte{"username": []byte("admin"), "password": []byte("s3cr3t")},
		}, metav1.CreateOptions{})
		framework.ExpectNoError(err)
		pod := framework.TestPod("secret-volume", "cat", "/etc/secret/username", "/etc/secret/password")
		pod.Spec.Volumes = []corev1.Volume{{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret.Name}}}}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "secret", MountPath: "/etc/secret", ReadOnly: true}}
		gomega.Expect(runToLogs(ctx, pod, "app")).To(gomega.Equal("admins3cr3t"))
	})

	framework.ConformanceIt("should share an emptyDir volume between the containers of a pod", func(ctx ginkgo.SpecContext) {
		pod := framework.TestPod("emptydir", "cat", "/shared/greeting")
		pod.Spec.Volumes = []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		mount := []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}}
		pod.Spec.InitContainers = []corev1.Container{framework.TestContainer("writer", "write-file", "/shared/greeting", "hello from the writer")}
		pod.Spec.InitContainers[0].VolumeMounts = mount
		pod.Spec.Containers[0].VolumeMounts = mount
		gomega.Expect(runToLogs(ctx, pod, "app")).To(gomega.Equal("hello from the writer"))
	})

	framework.ConformanceIt("should give a container env from values, configMap keys, secret keys and pod fields", func(ctx ginkgo.SpecContext) {
		_, err := f.Client.CoreV1().ConfigMaps(f.NS()).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "env-config"}, Data: map[string]string{"color": "blue"},
		}, metav1.CreateOptions{})
		framework.ExpectNoError(err)
		_, err = f.Client.CoreV1().Secrets(f.NS()).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "env-secret"}, Data: map[string][]byte{"token": []byte("t0k3n")},
		}, metav1.CreateOptions{})
		framework.ExpectNoError(err)
		pod := framework.TestPod("env", "env")
		fieldEnv := func(name, path string) corev1.EnvVar {
			return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
		}
		pod.Spec.Containers[0].Env = []corev1.EnvVar{
			{Name: "PLAIN", Value: "plain value"},
			{Name: "EXPANDED", Value: "$(PLAIN) expanded"},
			{Name: "FROM_CONFIGMAP", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "env-config"}, Key: "color"}}},
			{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "env-secret"}, Key: "token"}}},
			fieldEnv("POD_NAME", "metadata.name"),
			fieldEnv("POD_NAMESPACE", "metadata.namespace"),
			fieldEnv("NODE_NAME", "spec.nodeName"),
			fieldEnv("POD_IP", "status.podIP"),
		}
		f.CreatePod(ctx, pod)
		got := f.WaitForPodPhase(ctx, pod.Name, corev1.PodSucceeded)
		logs, err := f.Logs(ctx, pod.Name, &corev1.PodLogOptions{Container: "app"})
		framework.ExpectNoError(err)
		env := parseEnv(logs)
		gomega.Expect(env).To(gomega.HaveKeyWithValue("PLAIN", "plain value"))
		gomega.Expect(env).To(gomega.HaveKeyWithValue("EXPANDED", "plain value expanded"))
		gomega.Expect(env).To(gomega.HaveKeyWithValue("FROM_CONFIGMAP", "blue"))
		gomega.Expect(env).To(gomega.HaveKeyWithValue("FROM_SECRET", "t0k3n"))
		gomega.Expect(env).To(gomega.HaveKeyWithValue("POD_NAME", pod.Name))
		gomega.Expect(env).To(gomega.HaveKeyWithValue("POD_NAMESPACE", f.NS()))
		gomega.Expect(env).To(gomega.HaveKeyWithValue("NODE_NAME", got.Spec.NodeName))
		gomega.Expect(env).To(gomega.HaveKeyWithValue("POD_IP", gomega.Not(gomega.BeEmpty())))
		if got.Status.PodIP != "" {
			gomega.Expect(env).To(gomega.HaveKeyWithValue("POD_IP", got.Status.PodIP))
		}
	})
})

// parseEnv reads `testapp env` output: NAME=value lines.
func parseEnv(out string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}
