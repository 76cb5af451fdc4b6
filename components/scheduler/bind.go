package scheduler

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelab/kubelab/components/scheduler/queue"
)

// bind binds the assumed pod to node through pods/binding (with the pod's
// UID as precondition). On failure the pod is forgotten from the cache and
// retried after its backoff.
func (s *Scheduler) bind(ctx context.Context, qp *queue.QueuedPod, node string) {
	pod := qp.Pod
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	if err != nil {
		s.cache.ForgetPod(pod.UID)
		if ctx.Err() != nil {
			s.queue.Done(pod.UID)
			return
		}
		s.stats.errors.Add(1)
		s.queue.Requeue(qp, false)
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			// Deleted, or bound by someone else: nothing to report.
			s.log.Debug("binding rejected", "pod", pod.Namespace+"/"+pod.Name, "node", node, "err", err)
			return
		}
		s.log.Error("binding failed", "pod", pod.Namespace+"/"+pod.Name, "node", node, "err", err)
		s.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedScheduling", "Binding rejected: %v", err)
		return
	}
	s.cache.FinishBinding(pod.UID)
	s.queue.Done(pod.UID)
	s.stats.bound.Add(1)
	s.log.Debug("bound pod", "pod", pod.Namespace+"/"+pod.Name, "node", node)
	s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
}

// needsCondition reports whether the pod's PodScheduled condition differs
// from False with reason and message.
func needsCondition(pod *corev1.Pod, reason, msg string) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status != corev1.ConditionFalse || c.Reason != reason || c.Message != msg
		}
	}
	return true
}

// setUnschedulable sets PodScheduled=False reason Unschedulable with msg,
// through a status patch guarded by the pod's resourceVersion so that it
// never lands on a pod bound meanwhile; on a conflict it rereads the pod
// and tries again while the pod is still pending.
func (s *Scheduler) setUnschedulable(ctx context.Context, pod *corev1.Pod, msg string) {
	for range 3 {
		err := s.patchCondition(ctx, pod, msg)
		if !apierrors.IsConflict(err) {
			if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
				s.log.Error("set pod condition", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			}
			return
		}
		current, err := s.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || current.UID != pod.UID || current.Spec.NodeName != "" || current.DeletionTimestamp != nil ||
			!needsCondition(current, corev1.PodReasonUnschedulable, msg) {
			return
		}
		pod = current
	}
}

func (s *Scheduler) patchCondition(ctx context.Context, pod *corev1.Pod, msg string) error {
	transition := metav1.Now()
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			transition = c.LastTransitionTime
		}
	}
	patch := map[string]any{
		"metadata": map[string]any{"resourceVersion": pod.ResourceVersion},
		"status": map[string]any{
			"conditions": []any{map[string]any{
				"type":               corev1.PodScheduled,
				"status":             corev1.ConditionFalse,
				"reason":             corev1.PodReasonUnschedulable,
				"message":            msg,
				"lastProbeTime":      nil,
				"lastTransitionTime": transition,
			}},
		},
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("encode pod condition patch: %w", err)
	}
	if _, err := s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("patch status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
