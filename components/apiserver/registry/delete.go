package registry

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Finalizers the API server adds for the garbage collector.
const (
	FinalizerOrphan     = metav1.FinalizerOrphanDependents
	FinalizerForeground = metav1.FinalizerDeleteDependents
)

// Delete deletes ns/name. Objects with finalizers or a grace period get a
// deletionTimestamp and stay (deleted is false); others are removed. The
// returned object is its last state, in the served version.
func (s *Store) Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions, dryRun bool) (out runtime.Object, deleted bool, err error) {
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	key := s.key(ns, name)
	for attempt := 0; attempt < 100; attempt++ {
		kv, err := s.storage.Get(ctx, key)
		if err != nil {
			return nil, false, s.storageErr(err, name)
		}
		existing, err := s.decode(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, false, apierrors.NewInternalError(err)
		}
		if err := s.checkPreconditions(existing, opts.Preconditions); err != nil {
			return nil, false, err
		}
		obj := existing.DeepCopyObject()
		m := MetaOf(obj)
		changed := s.setPropagationFinalizers(m, opts)

		grace := int64(0)
		if s.res.GracePeriod != nil {
			grace = s.res.GracePeriod(obj, opts.GracePeriodSeconds)
		}
		graceful := false
		if grace > 0 {
			cur := m.GetDeletionGracePeriodSeconds()
			if m.GetDeletionTimestamp() == nil || cur == nil || grace < *cur {
				// The first graceful deletion bumps a tracked generation:
				// controllers of the object see that its behaviour changes
				// (upstream's BeforeDelete).
				if m.GetDeletionTimestamp() == nil && m.GetGeneration() > 0 {
					m.SetGeneration(m.GetGeneration() + 1)
				}
				t := metav1.NewTime(now().Add(time.Duration(grace) * time.Second))
				m.SetDeletionTimestamp(&t)
				m.SetDeletionGracePeriodSeconds(&grace)
				changed = true
			}
			graceful = true
		} else if m.GetDeletionTimestamp() != nil && m.GetDeletionGracePeriodSeconds() != nil && *m.GetDeletionGracePeriodSeconds() > 0 {
			// A zero grace period finishes a graceful deletion.
			zero := int64(0)
			m.SetDeletionGracePeriodSeconds(&zero)
			changed = true
		}
		pending := len(m.GetFinalizers()) > 0 || (s.res.PendingFinalizers != nil && s.res.PendingFinalizers(obj))
		if !graceful && pending && m.GetDeletionTimestamp() == nil {
			t := now()
			zero := int64(0)
			m.SetDeletionTimestamp(&t)
			m.SetDeletionGracePeriodSeconds(&zero)
			changed = true
		}
		if (graceful || pending) && s.res.PrepareForDelete != nil {
			before := obj.DeepCopyObject()
			s.res.PrepareForDelete(obj)
			changed = changed || !sameIgnoringVolatile(before, obj)
		}
		if graceful || pending {
			if !changed {
				out, err := s.toServed(existing)
				return out, false, err
			}
			if dryRun {
				out, err := s.toServed(obj)
				return out, false, err
			}
			data, err := s.encode(obj)
			if err != nil {
				return nil, false, apierrors.NewInternalError(err)
			}
			rev, err := s.storage.Update(ctx, key, data, kv.ModRevision)
			if err != nil {
				if apierrors.IsConflict(s.storageErr(err, name)) {
					continue
				}
				return nil, false, s.storageErr(err, name)
			}
			m.SetResourceVersion(rv(rev))
			out, err := s.toServed(obj)
			return out, false, err
		}
		if dryRun {
			out, err := s.toServed(existing)
			return out, true, err
		}
		if _, err := s.storage.Delete(ctx, key, kv.ModRevision); err != nil {
			if apierrors.IsConflict(s.storageErr(err, name)) {
				continue
			}
			return nil, false, s.storageErr(err, name)
		}
		if s.hooks.Deleted != nil {
			s.hooks.Deleted(ctx, existing)
		}
		out, err := s.toServed(existing)
		return out, true, err
	}
	return nil, false, apierrors.NewConflict(s.gr, name, fmt.Errorf("too many concurrent writes"))
}

func (s *Store) checkPreconditions(obj runtime.Object, p *metav1.Preconditions) error {
	if p == nil {
		return nil
	}
	m := MetaOf(obj)
	if p.UID != nil && *p.UID != m.GetUID() {
		return apierrors.NewConflict(s.gr, m.GetName(),
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
		return apierrors.NewConflict(s.gr, m.GetName(),
			fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
	}
	return nil
}

// setPropagationFinalizers records the requested propagation policy as the
// garbage collector's finalizers, as upstream does.
func (s *Store) setPropagationFinalizers(m metav1.Object, opts *metav1.DeleteOptions) bool {
	policy := s.res.DefaultPropagation
	if opts.OrphanDependents != nil {
		if *opts.OrphanDependents {
			policy = string(metav1.DeletePropagationOrphan)
		} else {
			policy = string(metav1.DeletePropagationBackground)
		}
	}
	if opts.PropagationPolicy != nil {
		policy = string(*opts.PropagationPolicy)
	}
	fs := m.GetFinalizers()
	before := len(fs)
	hadOrphan, hadForeground := hasString(fs, FinalizerOrphan), hasString(fs, FinalizerForeground)
	switch metav1.DeletionPropagation(policy) {
	case metav1.DeletePropagationOrphan:
		fs = removeString(fs, FinalizerForeground)
		if !hasString(fs, FinalizerOrphan) {
			fs = append(fs, FinalizerOrphan)
		}
	case metav1.DeletePropagationForeground:
		fs = removeString(fs, FinalizerOrphan)
		if !hasString(fs, FinalizerForeground) {
			fs = append(fs, FinalizerForeground)
		}
	case metav1.DeletePropagationBackground:
		if opts.PropagationPolicy != nil || opts.OrphanDependents != nil {
			fs = removeString(removeString(fs, FinalizerOrphan), FinalizerForeground)
		}
	}
	m.SetFinalizers(fs)
	return len(fs) != before || hadOrphan != hasString(fs, FinalizerOrphan) || hadForeground != hasString(fs, FinalizerForeground)
}

// DeleteCollection deletes every selected object of namespace ns and
// returns those it deleted or marked for deletion.
func (s *Store) DeleteCollection(ctx context.Context, ns string, lo ListOptions, opts *metav1.DeleteOptions, dryRun bool) (runtime.Object, error) {
	lo.Limit, lo.Continue = 0, ""
	list, err := s.List(ctx, ns, lo)
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var done []runtime.Object
	for _, it := range items {
		m := MetaOf(it)
		out, _, err := s.Delete(ctx, m.GetNamespace(), m.GetName(), opts.DeepCopy(), dryRun)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		done = append(done, out)
	}
	result := s.res.NewList()
	if err := meta.SetList(result, done); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return result, nil
}
