package nodelifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// markPodsNotReady sets the Ready condition of the node's pods False, as
// upstream's MarkPodsNotReady does for a node that is not ready.
func (c *Controller) markPodsNotReady(ctx context.Context, node *corev1.Node) error {
	objs, err := c.podsByNode.ByIndex(podNodeIndex, node.Name)
	if err != nil {
		return err
	}
	now := metav1.NewTime(c.now())
	var errs []error
	for _, o := range objs {
		pod := o.(*corev1.Pod)
		if pod.Spec.NodeName != node.Name || !isPodReady(pod) {
			continue
		}
		data, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"uid": pod.UID},
			"status": map[string]any{"conditions": []corev1.PodCondition{{
				Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: now,
			}}},
		})
		if err != nil {
			return err
		}
		_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status")
		switch {
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err) && pod.DeletionTimestamp != nil:
		case err != nil:
			errs = append(errs, fmt.Errorf("mark pod %s/%s not ready: %w", pod.Namespace, pod.Name, err))
		default:
			c.recorder.Eventf(pod, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("node %s: %v", node.Name, errs)
	}
	return nil
}

func isPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// syncEviction deletes the pod once its node has a NoExecute taint it does
// not tolerate, or tolerates only for tolerationSeconds that have passed
// since the taint was added (upstream's taint-eviction controller).
func (c *Controller) syncEviction(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.forgetFirstSeen(key)
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
		return nil
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return nil // pod GC handles pods of missing nodes
	}
	if err != nil {
		return err
	}
	taints := noExecuteTaints(node.Spec.Taints)
	if len(taints) == 0 {
		c.forgetFirstSeen(key)
		return nil
	}
	now := c.now()
	tolerated, used := matchingTolerations(taints, pod.Spec.Tolerations)
	if tolerated {
		wait := minTolerationTime(used)
		if wait < 0 {
			return nil // tolerated forever
		}
		at := c.taintedSince(key, taints, now).Add(wait)
		if now.Before(at) {
			c.evictQueue.AddAfter(key, at.Sub(now))
			return nil
		}
	}
	return c.evict(ctx, key, pod)
}

// taintedSince is when the oldest NoExecute taint was added (or, for a
// taint without timeAdded, when the pod was first seen under it).
func (c *Controller) taintedSince(key string, taints []corev1.Taint, now time.Time) time.Time {
	var since time.Time
	missing := false
	for _, t := range taints {
		if t.TimeAdded == nil {
			missing = true
			continue
		}
		if since.IsZero() || t.TimeAdded.Time.Before(since) {
			since = t.TimeAdded.Time
		}
	}
	if !missing {
		return since
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first, ok := c.firstSeen[key]
	if !ok {
		first = now
		c.firstSeen[key] = now
	}
	if since.IsZero() || first.Before(since) {
		return first
	}
	return since
}

func (c *Controller) forgetFirstSeen(key string) {
	c.mu.Lock()
	delete(c.firstSeen, key)
	c.mu.Unlock()
}

// evict marks the pod with a DisruptionTarget condition and deletes it
// with its own grace period.
func (c *Controller) evict(ctx context.Context, key string, pod *corev1.Pod) error {
	c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s", key)
	data, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status": map[string]any{"conditions": []corev1.PodCondition{{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(c.now()),
			Reason: "DeletionByTaintManager", Message: "Taint manager: deleting due to NoExecute taint",
		}}},
	})
	if err != nil {
		return err
	}
	if _, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status"); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("mark pod %s for eviction: %w", key, err)
	}
	uid := pod.UID
	err = c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("evict pod %s: %w", key, err)
	}
	c.forgetFirstSeen(key)
	c.log.Info("evicted pod from tainted node", "pod", key, "node", pod.Spec.NodeName)
	return nil
}

// matchingTolerations reports whether every taint is tolerated and, if so,
// the first toleration matching each (upstream's GetMatchingTolerations).
func matchingTolerations(taints []corev1.Taint, tolerations []corev1.Toleration) (bool, []corev1.Toleration) {
	var used []corev1.Toleration
	for i := range taints {
		found := false
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(klog.Background(), &taints[i], false) {
				used = append(used, tolerations[j])
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, used
}

// minTolerationTime is the shortest tolerationSeconds among used (0 for
// non-positive ones); -1 means the taints are tolerated forever.
func minTolerationTime(used []corev1.Toleration) time.Duration {
	if len(used) == 0 {
		return 0
	}
	least := int64(math.MaxInt64)
	for _, t := range used {
		if t.TolerationSeconds == nil {
			continue
		}
		if *t.TolerationSeconds <= 0 {
			return 0
		}
		least = min(least, *t.TolerationSeconds)
	}
	if least == math.MaxInt64 {
		return -1
	}
	return time.Duration(least) * time.Second
}
