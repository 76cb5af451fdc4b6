package deployment

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
)

// rolloutRolling moves one step of a rolling update: scale the new replica
// set up within maxSurge, else scale old ones down within maxUnavailable,
// else clean up history once complete.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.allReplicaSetsAndSyncRevision(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := withNew(oldRSs, newRS)
	scaledUp, err := c.reconcileNewReplicaSet(ctx, all, newRS, d)
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	scaledDown, err := c.reconcileOldReplicaSets(ctx, all, filterActive(oldRSs), newRS, d)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanup(ctx, oldRSs, d); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, all, newRS, d)
}

func (c *Controller) reconcileNewReplicaSet(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	want := replicas(d.Spec.Replicas)
	cur := replicas(newRS.Spec.Replicas)
	if cur == want {
		return false, nil
	}
	if cur > want {
		scaled, _, err := c.scaleAndRecord(ctx, newRS, want, d)
		return scaled, err
	}
	n, err := NewRSNewReplicas(d, all, newRS)
	if err != nil {
		return false, err
	}
	scaled, _, err := c.scaleAndRecord(ctx, newRS, n, d)
	return scaled, err
}

// reconcileOldReplicaSets scales old replica sets down as far as
// maxUnavailable allows, unhealthy pods first.
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, all, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if specReplicas(oldRSs) == 0 {
		return false, nil
	}
	minAvailable := replicas(d.Spec.Replicas) - MaxUnavailable(d)
	newUnavailable := replicas(newRS.Spec.Replicas) - availableFloor(newRS)
	maxScaledDown := specReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	oldRSs, cleaned, err := c.cleanupUnhealthyReplicas(ctx, oldRSs, d, maxScaledDown)
	if err != nil {
		return false, err
	}
	scaled, err := c.scaleDownOldForRollingUpdate(ctx, withNew(oldRSs, newRS), oldRSs, d, maxScaledDown-cleaned)
	if err != nil {
		return false, err
	}
	return cleaned+scaled > 0, nil
}

// cleanupUnhealthyReplicas scales old replica sets down by their
// unavailable pods (which costs no availability), up to limit in all.
func (c *Controller) cleanupUnhealthyReplicas(ctx context.Context, oldRSs []*appsv1.ReplicaSet, d *appsv1.Deployment, limit int32) ([]*appsv1.ReplicaSet, int32, error) {
	oldRSs = append([]*appsv1.ReplicaSet(nil), oldRSs...)
	sortByCreation(oldRSs)
	total := int32(0)
	for i, rs := range oldRSs {
		if total >= limit {
			break
		}
		cur := replicas(rs.Spec.Replicas)
		unhealthy := cur - availableFloor(rs)
		if cur == 0 || unhealthy <= 0 {
			continue
		}
		down := min(limit-total, unhealthy)
		_, updated, err := c.scaleAndRecord(ctx, rs, cur-down, d)
		if err != nil {
			return nil, total, err
		}
		total += down
		oldRSs[i] = updated
	}
	return oldRSs, total, nil
}

// scaleDownOldForRollingUpdate scales old replica sets down, oldest first,
// while the available pods stay at or above spec.replicas-maxUnavailable.
// Availability is counted no higher than each replica set's spec (pods
// beyond it are already being deleted), and the total no higher than
// limit; both keep the bound while the replica sets' status lags.
func (c *Controller) scaleDownOldForRollingUpdate(ctx context.Context, all, oldRSs []*appsv1.ReplicaSet, d *appsv1.Deployment, limit int32) (int32, error) {
	minAvailable := replicas(d.Spec.Replicas) - MaxUnavailable(d)
	available := int32(0)
	for _, rs := range all {
		available += availableFloor(rs)
	}
	if available <= minAvailable {
		return 0, nil
	}
	oldRSs = append([]*appsv1.ReplicaSet(nil), oldRSs...)
	sortByCreation(oldRSs)
	totalDown := min(available-minAvailable, limit)
	scaled := int32(0)
	for _, rs := range oldRSs {
		if scaled >= totalDown {
			break
		}
		cur := replicas(rs.Spec.Replicas)
		if cur == 0 {
			continue
		}
		down := min(cur, totalDown-scaled)
		if _, _, err := c.scaleAndRecord(ctx, rs, cur-down, d); err != nil {
			return scaled, err
		}
		scaled += down
	}
	return scaled, nil
}
