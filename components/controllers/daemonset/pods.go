package daemonset

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// templateGenerationLabel carries the daemon set's
// deprecated.daemonset.template.generation annotation to its pods, when
// an API server sets it (upstream's does; the hash label is what counts).
const templateGenerationLabel = "pod-template-generation"

// templateHash is the value of the controller-revision-hash label of pods
// made from ds's current template. Upstream hashes the ControllerRevision
// holding the template; kubelab does not serve ControllerRevisions, so the
// hash is taken from the template itself (FNV-32a of its JSON, which sorts
// map keys, plus the collision count), encoded as upstream encodes it.
// Equal templates give equal hashes across restarts.
func templateHash(ds *appsv1.DaemonSet) string {
	h := fnv.New32a()
	data, _ := json.Marshal(&ds.Spec.Template)
	h.Write(data)
	if ds.Status.CollisionCount != nil {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(*ds.Status.CollisionCount))
		h.Write(b[:])
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// isUpdated reports whether pod was made from the current template.
func isUpdated(pod *corev1.Pod, hash string) bool {
	return pod.Labels[appsv1.ControllerRevisionHashLabelKey] == hash
}

// newPod builds the daemon pod for nodeName: the template with the hash
// (and template generation) labels, the daemon tolerations, and a required
// node affinity pinning it to the node for the scheduler to bind.
func newPod(ds *appsv1.DaemonSet, nodeName, hash string) *corev1.Pod {
	t := ds.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ds.Name + "-",
			Namespace:       ds.Namespace,
			Labels:          map[string]string{},
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))},
		},
		Spec: t.Spec,
	}
	for k, v := range t.Labels {
		pod.Labels[k] = v
	}
	pod.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
	if g, ok := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; ok {
		pod.Labels[templateGenerationLabel] = g
	}
	addDaemonTolerations(&pod.Spec)
	pod.Spec.Affinity = pinToNode(pod.Spec.Affinity, nodeName)
	return pod
}

// olderFirst orders daemon pods on one node: scheduled before pending,
// running before not, then oldest first (upstream's
// podByCreationTimestampAndPhase keeps the oldest running pod).
func olderFirst(a, b *corev1.Pod) int {
	ra, rb := a.Status.Phase == corev1.PodRunning, b.Status.Phase == corev1.PodRunning
	switch {
	case ra && !rb:
		return -1
	case rb && !ra:
		return 1
	}
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

// sortedKeys returns m's keys in order, so decisions are deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
