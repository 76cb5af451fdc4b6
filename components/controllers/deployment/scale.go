package deployment

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// isScalingEvent reports whether spec.replicas changed since the active
// replica sets were last sized (their desired-replicas annotation).
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, oldRSs, err := c.allReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range filterActive(withNew(oldRSs, newRS)) {
		if desired, ok := intAnnotation(rs, DesiredReplicasAnnotation); ok && desired != replicas(d.Spec.Replicas) {
			return true, nil
		}
	}
	return false, nil
}

// syncScale reconciles a scaling event or a paused deployment: sizes
// change, the template does not roll out.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.allReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, oldRSs); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, oldRSs, d); err != nil {
			return err
		}
	}
	return c.syncStatusOnly(ctx, d, withNew(oldRSs, newRS), newRS)
}

// scale resizes the replica sets to spec.replicas: all of it to the only
// active one (or the newest), old ones to zero once the new one is
// saturated, and otherwise, during a rolling update, proportionally to
// their sizes, as upstream's proportional scaling does.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) error {
	want := replicas(d.Spec.Replicas)
	if rs := findActiveOrLatest(newRS, oldRSs); rs != nil {
		if replicas(rs.Spec.Replicas) == want {
			return nil
		}
		_, _, err := c.scaleAndRecord(ctx, rs, want, d)
		return err
	}
	if IsSaturated(d, newRS) {
		for _, old := range filterActive(oldRSs) {
			if _, _, err := c.scaleAndRecord(ctx, old, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRolling(d) {
		return nil
	}
	sizes, direction := proportionalSizes(d, filterActive(withNew(oldRSs, newRS)))
	for _, s := range sizes {
		if _, _, err := c.scaleReplicaSet(ctx, s.rs, s.size, d, direction); err != nil {
			return err
		}
	}
	return nil
}

type sized struct {
	rs   *appsv1.ReplicaSet
	size int32
}

// proportionalSizes spreads the difference between spec.replicas+maxSurge
// and the active replica sets' total over them in proportion to their
// sizes; leftovers from rounding go to the largest one.
func proportionalSizes(d *appsv1.Deployment, active []*appsv1.ReplicaSet) ([]sized, string) {
	allowed := int32(0)
	if replicas(d.Spec.Replicas) > 0 {
		allowed = replicas(d.Spec.Replicas) + MaxSurge(d)
	}
	toAdd := allowed - specReplicas(active)
	direction := ""
	switch {
	case toAdd > 0:
		sortBySize(active, true)
		direction = "up"
	case toAdd < 0:
		sortBySize(active, false)
		direction = "down"
	}
	out := make([]sized, len(active))
	added := int32(0)
	for i, rs := range active {
		out[i] = sized{rs: rs, size: replicas(rs.Spec.Replicas)}
		if toAdd != 0 {
			p := GetProportion(rs, d, toAdd, added)
			out[i].size += p
			added += p
		}
	}
	if len(out) > 0 && toAdd != 0 {
		out[0].size = max(out[0].size+toAdd-added, 0)
	}
	return out, direction
}

// findActiveOrLatest returns the only active replica set, or the newest
// one when none is active; nil when several are active.
func findActiveOrLatest(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	old := append([]*appsv1.ReplicaSet(nil), oldRSs...)
	sortByCreation(old)
	active := filterActive(withNew(old, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return old[len(old)-1]
	case 1:
		return active[0]
	}
	return nil
}

// scaleAndRecord scales rs to size if it differs.
func (c *Controller) scaleAndRecord(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	cur := replicas(rs.Spec.Replicas)
	if cur == size {
		return false, rs, nil
	}
	direction := "down"
	if cur < size {
		direction = "up"
	}
	return c.scaleReplicaSet(ctx, rs, size, d, direction)
}

// scaleReplicaSet writes size and the replicas annotations to rs and
// records a ScalingReplicaSet event when the size changed.
func (c *Controller) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment, direction string) (bool, *appsv1.ReplicaSet, error) {
	cur := replicas(rs.Spec.Replicas)
	want := replicas(d.Spec.Replicas)
	maxReplicas := want + MaxSurge(d)
	sizeChanged := cur != size
	if !sizeChanged && !replicasAnnotationsNeedUpdate(rs, want, maxReplicas) {
		return false, rs, nil
	}
	cp := rs.DeepCopy()
	cp.Spec.Replicas = &size
	SetReplicasAnnotations(cp, want, maxReplicas)
	out, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, fmt.Errorf("scale replica set %s/%s to %d: %w", rs.Namespace, rs.Name, size, err)
	}
	if sizeChanged {
		c.recorder.Eventf(d, corev1.EventTypeNormal, ReasonScalingReplicaSet, "Scaled %s replica set %s from %d to %d", direction, rs.Name, cur, size)
	}
	return sizeChanged, out, nil
}

// cleanup deletes the oldest old replica sets beyond
// revisionHistoryLimit, only those scaled to zero and settled.
func (c *Controller) cleanup(ctx context.Context, oldRSs []*appsv1.ReplicaSet, d *appsv1.Deployment) error {
	if !hasRevisionHistoryLimit(d) {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range oldRSs {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sortByRevision(alive)
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || replicas(rs.Spec.Replicas) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		uid := rs.UID
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete old replica set %s/%s: %w", rs.Namespace, rs.Name, err)
		}
	}
	return nil
}

// checkPausedConditions sets Progressing to Unknown/DeploymentPaused when
// paused and Unknown/DeploymentResumed when resumed, so time spent paused
// does not count against progressDeadlineSeconds.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := condition(d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == ReasonTimedOut {
		return nil
	}
	pausedCond := cond != nil && cond.Reason == ReasonPaused
	switch {
	case d.Spec.Paused && !pausedCond:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused", c.now()))
	case !d.Spec.Paused && pausedCond:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed", c.now()))
	default:
		return nil
	}
	return c.updateStatus(ctx, d)
}
