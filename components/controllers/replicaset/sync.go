package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelab/kubelab/components/controllers/ownership"
)

// Reasons of the ReplicaFailure condition and of the warning for a
// selector the controller refuses.
const (
	ReasonFailedCreateCondition = "FailedCreate"
	ReasonFailedDeleteCondition = "FailedDelete"
	ReasonInvalidSelector       = "InvalidSelector"
)

// sync reconciles the object under key: claim its pods, create or delete
// pods toward spec.replicas (unless earlier creates and deletes are still
// unobserved), and write the status.
func (c *Controller) sync(ctx context.Context, key string) error {
	rs, err := c.get(key)
	if err != nil {
		return err
	}
	if rs == nil {
		c.expectations.Forget(key)
		return nil
	}
	needsSync := c.expectations.Satisfied(key)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err == nil && selector.Empty() {
		err = errors.New("an empty selector would select every pod")
	}
	if err != nil {
		// Bad input: report it and wait for the object to change.
		c.log.Warn("invalid selector", "key", key, "err", err)
		c.recorder.Eventf(rs, corev1.EventTypeWarning, ReasonInvalidSelector, "Invalid selector: %v", err)
		return nil
	}
	all, err := c.podLister.Pods(rs.Namespace).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list pods of %s: %w", key, err)
	}
	var active []*corev1.Pod
	terminating := int32(0)
	for _, p := range all {
		if ownership.IsPodActive(p) {
			active = append(active, p)
		} else if p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.UID == rs.UID {
				terminating++
			}
		}
	}
	pods, err := c.claim(ctx, rs, selector, active)
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, key, rs, pods, all)
	}
	status := calculateStatus(rs, pods, manageErr, c.now())
	if c.kind.TerminatingReplicas {
		status.TerminatingReplicas = &terminating
	}
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		return errors.Join(manageErr, err)
	}
	want := int32(replicasOf(updated))
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == want && updated.Status.AvailableReplicas != want {
		c.queue.AddAfter(key, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

// claim adopts matching orphans and releases owned pods that no longer
// match, returning the pods rs controls. Before adopting it rechecks rs
// against the API server, as upstream does, so a ReplicaSet deleted (or
// replaced under its name) since the cache saw it adopts nothing.
func (c *Controller) claim(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	owner := ownership.Owner{Object: rs, GVK: c.kind.GVK}
	if rs.DeletionTimestamp == nil && hasOrphan(selector, pods) {
		fresh, err := c.kind.Get(ctx, rs.Namespace, rs.Name)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("recheck %s before adoption: %w", keyOf(rs), err)
		}
		if err != nil || fresh.GetUID() != rs.UID || fresh.GetDeletionTimestamp() != nil {
			// Claim neither adopts nor releases for an owner being deleted.
			m := rs.ObjectMeta.DeepCopy()
			now := metav1.NewTime(c.now())
			m.DeletionTimestamp = &now
			owner.Object = m
		}
	}
	claimed, err := ownership.Claim(ctx, owner, selector, pods, ownership.PodPatcher(c.client))
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

func hasOrphan(selector labels.Selector, pods []*corev1.Pod) bool {
	for _, p := range pods {
		if metav1.GetControllerOfNoCopy(p) == nil && selector.Matches(labels.Set(p.Labels)) {
			return true
		}
	}
	return false
}

// manageReplicas creates or deletes pods (at most burst in one sync) so rs
// has spec.replicas of them, recording the expectations first.
func (c *Controller) manageReplicas(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods, all []*corev1.Pod) error {
	diff := len(pods) - replicasOf(rs)
	switch {
	case diff < 0:
		n := min(-diff, c.burst)
		c.expectations.ExpectCreations(key, n)
		ref := ownership.Owner{Object: rs, GVK: c.kind.GVK}.Ref()
		ok, err := ownership.SlowStartBatch(n, ownership.SlowStartInitialBatchSize, func() error {
			err := c.createPod(ctx, rs, ref)
			if err != nil && isNamespaceTerminating(err) {
				// Every create will fail until the namespace is gone; no
				// pod will be observed for this one.
				c.expectations.Observed(key, true)
				return nil
			}
			return err
		})
		for i := 0; i < n-ok; i++ {
			// Creates skipped after a failing batch will not be observed.
			c.expectations.Observed(key, true)
		}
		return err
	case diff > 0:
		n := min(diff, c.burst)
		victims := podsToDelete(pods, c.related(rs, all), n, c.now())
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = keyOf(p)
		}
		c.expectations.ExpectDeletions(key, keys)
		var wg sync.WaitGroup
		errs := make([]error, len(victims))
		for i, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.deletePodOf(ctx, rs, p); err != nil {
					// No deletion event will come for a failed delete.
					c.expectations.DeletionObserved(key, keys[i])
					if !isGone(err) {
						errs[i] = err
					}
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

// related returns the active pods controlled by rs or by a sibling (an
// object of the same kind with the same controller), for ranking.
func (c *Controller) related(rs *appsv1.ReplicaSet, all []*corev1.Pod) []*corev1.Pod {
	uids := map[types.UID]bool{rs.UID: true}
	if owner := metav1.GetControllerOfNoCopy(rs); owner != nil {
		for _, s := range c.inNamespace(rs.Namespace) {
			if ref := metav1.GetControllerOfNoCopy(s); ref != nil && ref.UID == owner.UID {
				uids[s.UID] = true
			}
		}
	}
	var out []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil && uids[ref.UID] {
			out = append(out, p)
		}
	}
	return out
}

// calculateStatus counts pods as upstream's replicaset status does and sets
// or clears the ReplicaFailure condition from manageErr.
func calculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	template := labels.SelectorFromSet(rs.Spec.Template.Labels)
	var labeled, ready, available int32
	for _, p := range pods {
		if template.Matches(labels.Set(p.Labels)) {
			labeled++
		}
		if ownership.IsPodReady(p) {
			ready++
			if ownership.IsPodAvailable(p, rs.Spec.MinReadySeconds, metav1.NewTime(now)) {
				available++
			}
		}
	}
	failure := condition(status.Conditions, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := ReasonFailedCreateCondition
		if len(pods) > replicasOf(rs) {
			reason = ReasonFailedDeleteCondition
		}
		status.Conditions = append(status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		var kept []appsv1.ReplicaSetCondition
		for _, cond := range status.Conditions {
			if cond.Type != appsv1.ReplicaSetReplicaFailure {
				kept = append(kept, cond)
			}
		}
		status.Conditions = kept
	}
	status.Replicas = int32(len(pods))
	status.FullyLabeledReplicas = labeled
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	status.ObservedGeneration = rs.Generation
	return status
}

func condition(conds []appsv1.ReplicaSetCondition, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// updateStatus writes status unless it is what rs already reports. On a
// conflict it retries once on the object read fresh from the API server,
// as upstream does.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if apiequality.Semantic.DeepEqual(rs.Status, status) {
		return rs, nil
	}
	cp := rs.DeepCopy()
	cp.Status = status
	updated, err := c.kind.UpdateStatus(ctx, cp)
	if apierrors.IsConflict(err) {
		fresh, gerr := c.kind.Get(ctx, rs.Namespace, rs.Name)
		if gerr == nil && fresh.GetUID() == rs.UID {
			if view, ok := c.kind.Convert(fresh); ok {
				// The status still describes the generation synced.
				cp = view.DeepCopy()
				cp.Status = status
				updated, err = c.kind.UpdateStatus(ctx, cp)
			}
		}
	}
	if apierrors.IsNotFound(err) {
		return cp, nil
	}
	if err != nil {
		return nil, fmt.Errorf("update status of %s: %w", keyOf(rs), err)
	}
	return updated, nil
}

func isNamespaceTerminating(err error) bool {
	return apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

// isGone reports whether a delete failed because the pod is already gone
// (or was replaced under its name, failing the uid precondition).
func isGone(err error) bool { return apierrors.IsNotFound(err) || apierrors.IsConflict(err) }
