package replicaset

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/controllers/ownership"
)

// Event reasons, as upstream's pod control reports them.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonFailedCreate     = "FailedCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedDelete     = "FailedDelete"
)

// PodDeletionCostAnnotation ranks pods for scale-down: lower cost goes first.
const PodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

var errNoLabels = errors.New("unable to create pods, no labels")

// PodFromTemplate returns the pod a controller named parent creates from
// template: the template's labels, annotations, finalizers and spec, the
// controller reference, and generateName "<parent>-".
func PodFromTemplate(template *corev1.PodTemplateSpec, parent string, ref metav1.OwnerReference) *corev1.Pod {
	prefix := parent + "-"
	if len(apivalidation.NameIsDNSSubdomain(prefix, true)) != 0 {
		prefix = parent
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    prefix,
			Labels:          maps.Clone(template.Labels),
			Annotations:     maps.Clone(template.Annotations),
			Finalizers:      slices.Clone(template.Finalizers),
			OwnerReferences: []metav1.OwnerReference{ref},
		},
	}
	pod.Spec = *template.Spec.DeepCopy()
	return pod
}

// createPod creates one pod for rs and records the outcome as an event.
func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet, ref metav1.OwnerReference) error {
	pod := PodFromTemplate(&rs.Spec.Template, rs.Name, ref)
	if len(pod.Labels) == 0 {
		c.recorder.Eventf(rs, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", errNoLabels)
		return errNoLabels
	}
	created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !isNamespaceTerminating(err) {
			c.recorder.Eventf(rs, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
		}
		return fmt.Errorf("create pod for %s: %w", keyOf(rs), err)
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: %v", created.Name)
	return nil
}

// deletePodOf deletes pod for rs (guarded by its uid) and records the outcome.
func (c *Controller) deletePodOf(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil {
		if !isGone(err) {
			c.recorder.Eventf(rs, corev1.EventTypeWarning, ReasonFailedDelete, "Error deleting: %v", err)
		}
		return fmt.Errorf("delete pod %s: %w", keyOf(pod), err)
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: %v", pod.Name)
	return nil
}

// podsToDelete picks the n pods to delete first, by upstream's ranking
// (see rankedPods), counting doubled-up pods against related (the pods of
// rs and of its siblings under the same owner).
func podsToDelete(pods, related []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n < len(pods) {
		onNode := map[string]int{}
		for _, p := range related {
			if ownership.IsPodActive(p) {
				onNode[p.Spec.NodeName]++
			}
		}
		r := rankedPods{pods: pods, rank: make([]int, len(pods)), now: now}
		for i, p := range pods {
			r.rank[i] = onNode[p.Spec.NodeName]
		}
		sort.Sort(r)
	}
	return pods[:min(n, len(pods))]
}

var phaseOrdinal = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// rankedPods sorts pods so the ones to delete first come first, as
// upstream's ActivePodsWithRanks: unscheduled < scheduled; Pending <
// Unknown < Running; not ready < ready; lower pod-deletion-cost first; more
// pods of the same owner on the node first; ready for less time first
// (logarithmic buckets); more container restarts first; newer first
// (logarithmic buckets); then by uid.
type rankedPods struct {
	pods []*corev1.Pod
	rank []int
	now  time.Time
}

func (s rankedPods) Len() int { return len(s.pods) }

func (s rankedPods) Swap(i, j int) {
	s.pods[i], s.pods[j] = s.pods[j], s.pods[i]
	s.rank[i], s.rank[j] = s.rank[j], s.rank[i]
}

func (s rankedPods) Less(i, j int) bool {
	a, b := s.pods[i], s.pods[j]
	if a.Spec.NodeName != b.Spec.NodeName && (a.Spec.NodeName == "" || b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrdinal[a.Status.Phase], phaseOrdinal[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	ra, rb := ownership.IsPodReady(a), ownership.IsPodReady(b)
	if ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if s.rank[i] != s.rank[j] {
		return s.rank[i] > s.rank[j]
	}
	if ra && rb {
		ta, tb := readyTime(a), readyTime(b)
		if !ta.Equal(&tb) {
			if less, decided := s.newer(ta, tb, a, b); decided {
				return less
			}
		}
	}
	if xa, xb := maxRestarts(a), maxRestarts(b); xa != xb {
		return xa > xb
	}
	ta, tb := a.CreationTimestamp, b.CreationTimestamp
	if !ta.Equal(&tb) {
		if less, decided := s.newer(ta, tb, a, b); decided {
			return less
		}
	}
	return false
}

// newer orders two times "newer first" in upstream's logarithmic buckets
// (times within the same power-of-two age are ties, broken by uid); a zero
// time counts as newest.
func (s rankedPods) newer(ta, tb metav1.Time, a, b *corev1.Pod) (less, decided bool) {
	if ta.IsZero() || tb.IsZero() || s.now.IsZero() {
		if ta.IsZero() || tb.IsZero() {
			return ta.IsZero(), true
		}
		return ta.After(tb.Time), true
	}
	if d := logRank(ta.Time, s.now) - logRank(tb.Time, s.now); d != 0 {
		return d < 0, true
	}
	return a.UID < b.UID, true
}

func logRank(t, now time.Time) int64 {
	if d := now.Sub(t); d > 0 {
		return int64(math.Log2(float64(d)))
	}
	return -1
}

func readyTime(p *corev1.Pod) metav1.Time {
	if c := ownership.PodCondition(p, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue {
		return c.LastTransitionTime
	}
	return metav1.Time{}
}

func maxRestarts(p *corev1.Pod) int32 {
	var m int32
	for _, cs := range p.Status.ContainerStatuses {
		m = max(m, cs.RestartCount)
	}
	return m
}

func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[PodDeletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}
