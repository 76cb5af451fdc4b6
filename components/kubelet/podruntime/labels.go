// Package podruntime maps pods onto the CRI: the sandbox and container
// configs the kubelet asks the runtime for (labels, resources, DNS,
// namespaces, mounts, logs) and the runtime's view of one pod read back
// through those labels, so a restarted kubelet finds its pods again.
package podruntime

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels and annotations on sandboxes and containers, as upstream's
// kubelet writes them (crictl and log collectors know them).
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	// LabelContainerType is "init" for init containers (a kubelab label).
	LabelContainerType = "io.kubernetes.container.type"

	AnnotationRestartCount             = "io.kubernetes.container.restartCount"
	AnnotationContainerHash            = "io.kubernetes.container.hash"
	AnnotationTerminationMessagePath   = "io.kubernetes.container.terminationMessagePath"
	AnnotationTerminationMessagePolicy = "io.kubernetes.container.terminationMessagePolicy"
	AnnotationTerminationGracePeriod   = "io.kubernetes.pod.terminationGracePeriod"
)

// ContainerTypeInit marks init containers in LabelContainerType.
const ContainerTypeInit = "init"

// sandboxLabels are the labels of pod's sandbox: the pod's own labels
// plus the kubelet's identification.
func sandboxLabels(pod *corev1.Pod) map[string]string {
	l := make(map[string]string, len(pod.Labels)+3)
	for k, v := range pod.Labels {
		l[k] = v
	}
	l[LabelPodName] = pod.Name
	l[LabelPodNamespace] = pod.Namespace
	l[LabelPodUID] = string(pod.UID)
	return l
}

// containerLabels identify container c of pod.
func containerLabels(pod *corev1.Pod, c *corev1.Container, init bool) map[string]string {
	l := map[string]string{
		LabelPodName: pod.Name, LabelPodNamespace: pod.Namespace, LabelPodUID: string(pod.UID),
		LabelContainerName: c.Name,
	}
	if init {
		l[LabelContainerType] = ContainerTypeInit
	}
	return l
}

// PodUIDOf returns the pod uid a sandbox's or container's labels name.
func PodUIDOf(labels map[string]string) types.UID { return types.UID(labels[LabelPodUID]) }

// restartCountOf reads the restart count annotation (0 when missing).
func restartCountOf(annotations map[string]string) int32 {
	n, err := strconv.ParseInt(annotations[AnnotationRestartCount], 10, 32)
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}
