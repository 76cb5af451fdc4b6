package registry

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
)

// TryUpdate computes the desired object from the current stored one. It
// returns the new object (stored version; it may modify existing), or an
// error to abort.
type TryUpdate func(existing runtime.Object) (runtime.Object, error)

// errNotFoundCreate asks GuaranteedUpdate's caller to create instead.
var errNotFoundCreate = errors.New("create instead")

// GuaranteedUpdate reads ns/name, applies try and writes the result with
// upstream's update semantics (system metadata kept, status or spec reset,
// validation, generation, managedFields, finalizer-driven deletion),
// retrying on write conflicts unless precondition (a resourceVersion the
// client required) is set.
func (s *Store) GuaranteedUpdate(ctx context.Context, ns, name string, precondition string, o WriteOptions, try TryUpdate) (runtime.Object, error) {
	key := s.key(ns, name)
	for attempt := 0; ; attempt++ {
		kv, err := s.storage.Get(ctx, key)
		if err != nil {
			return nil, s.storageErr(err, name)
		}
		existing, err := s.decode(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		if precondition != "" && precondition != MetaOf(existing).GetResourceVersion() {
			return nil, conflict(s.gr, name)
		}
		desired, err := try(existing.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		out, err := s.write(ctx, key, desired, existing, kv.ModRevision, o)
		if apierrors.IsConflict(err) && precondition == "" && attempt < 100 && errors.Is(err, errStorageConflict) {
			continue
		}
		return out, err
	}
}

// errStorageConflict marks a conflict from a concurrent write (retryable).
var errStorageConflict = errors.New("storage conflict")

type retryableConflict struct{ apierrors.APIStatus }

func (r retryableConflict) Error() string   { return r.APIStatus.(error).Error() }
func (r retryableConflict) Is(t error) bool { return t == errStorageConflict }
func (r retryableConflict) Unwrap() error   { return r.APIStatus.(error) }

// write applies update semantics to obj (desired) against existing and
// stores the result.
func (s *Store) write(ctx context.Context, key string, obj, existing runtime.Object, modRev int64, o WriteOptions) (runtime.Object, error) {
	m, em := MetaOf(obj), MetaOf(existing)
	if uid := m.GetUID(); uid != "" && uid != em.GetUID() {
		return nil, apierrors.NewConflict(s.gr, em.GetName(),
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", uid, em.GetUID()))
	}
	raw := o.Subresource == "binding" || o.Subresource == "finalize"
	if o.Subresource == "status" {
		// Only status changes; everything else stays as stored.
		// Annotations may change too, as upstream's status strategies allow
		// (the deployment controller records revisions that way).
		st := existing.DeepCopyObject()
		copyStatus(st, obj)
		MetaOf(st).SetManagedFields(m.GetManagedFields())
		MetaOf(st).SetAnnotations(m.GetAnnotations())
		obj, m = st, MetaOf(st)
	} else if s.res.HasStatus && !raw {
		copyStatus(obj, existing)
	}
	m.SetName(em.GetName())
	m.SetNamespace(em.GetNamespace())
	m.SetUID(em.GetUID())
	m.SetCreationTimestamp(em.GetCreationTimestamp())
	m.SetDeletionTimestamp(em.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(em.GetDeletionGracePeriodSeconds())
	m.SetGeneration(em.GetGeneration())
	m.SetResourceVersion(em.GetResourceVersion())
	m.SetSelfLink("")
	if em.GetDeletionTimestamp() != nil {
		for _, f := range m.GetFinalizers() {
			if !hasString(em.GetFinalizers(), f) {
				return nil, apierrors.NewForbidden(s.gr, em.GetName(),
					fmt.Errorf("no new finalizers can be added if the object is being deleted, found new finalizers %q", f))
			}
		}
	}

	strategy := s.res.Strategy
	if !raw {
		strategy.PrepareForUpdate(obj, existing)
		strategy.Default(obj)
		errs := strategy.ValidateUpdate(obj, existing)
		if o.Subresource == "status" {
			errs = append(errs, strategy.ValidateStatusUpdate(obj, existing)...)
		}
		if len(errs) > 0 {
			return nil, apierrors.NewInvalid(s.storedGVK.GroupKind(), em.GetName(), errs)
		}
	}
	// Raw writes (a pod's binding) are not spec updates: upstream makes
	// them straight to storage, leaving the generation alone.
	if strategy.GenerationTracked() && !raw && specChanged(obj, existing) {
		m.SetGeneration(em.GetGeneration() + 1)
	}
	obj, err := s.trackManagedFields(obj, existing, o)
	if err != nil {
		return nil, err
	}
	m = MetaOf(obj)
	if sameIgnoringVolatile(obj, existing) && equalManagedFields(obj, existing) {
		return s.toServed(existing)
	}
	undo := func() {}
	if s.hooks.Admit != nil {
		if undo, err = s.hooks.Admit(ctx, obj, existing, o.DryRun); err != nil {
			return nil, err
		}
	}
	if o.DryRun {
		undo()
		return s.toServed(obj)
	}
	if s.finalized(obj) {
		if _, err := s.storage.Delete(ctx, key, modRev); err != nil {
			undo()
			return nil, s.writeErr(err, em.GetName())
		}
		if s.hooks.Deleted != nil {
			s.hooks.Deleted(ctx, obj)
		}
		return s.toServed(obj)
	}
	data, err := s.encode(obj)
	if err != nil {
		undo()
		return nil, apierrors.NewInternalError(err)
	}
	rev, err := s.storage.Update(ctx, key, data, modRev)
	if err != nil {
		undo()
		return nil, s.writeErr(err, em.GetName())
	}
	m.SetResourceVersion(rv(rev))
	if s.hooks.Updated != nil {
		s.hooks.Updated(ctx, obj, existing)
	}
	return s.toServed(obj)
}

func (s *Store) writeErr(err error, name string) error {
	apiErr := s.storageErr(err, name)
	if apierrors.IsConflict(apiErr) {
		return retryableConflict{apiErr.(apierrors.APIStatus)}
	}
	return apiErr
}

func equalManagedFields(a, b runtime.Object) bool {
	am, bm := MetaOf(a).GetManagedFields(), MetaOf(b).GetManagedFields()
	if len(am) != len(bm) {
		return false
	}
	for i := range am {
		if am[i].Manager != bm[i].Manager || am[i].Operation != bm[i].Operation ||
			am[i].Subresource != bm[i].Subresource || am[i].APIVersion != bm[i].APIVersion {
			return false
		}
		if (am[i].FieldsV1 == nil) != (bm[i].FieldsV1 == nil) ||
			(am[i].FieldsV1 != nil && string(am[i].FieldsV1.Raw) != string(bm[i].FieldsV1.Raw)) {
			return false
		}
	}
	return true
}

// finalized reports whether an object being deleted has no finalizers left
// and no grace period running, so the update removes it.
func (s *Store) finalized(obj runtime.Object) bool {
	m := MetaOf(obj)
	if m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
		return false
	}
	if g := m.GetDeletionGracePeriodSeconds(); g != nil && *g > 0 {
		return false
	}
	if s.res.PendingFinalizers != nil && s.res.PendingFinalizers(obj) {
		return false
	}
	return true
}

// Update replaces ns/name with in (served version) through the main
// resource or the status subresource. created is true when PUT created it.
func (s *Store) Update(ctx context.Context, ns, name string, in runtime.Object, o WriteOptions) (out runtime.Object, created bool, err error) {
	obj, err := s.toStored(in.DeepCopyObject())
	if err != nil {
		return nil, false, apierrors.NewBadRequest(err.Error())
	}
	m := MetaOf(obj)
	if m.GetName() != name {
		return nil, false, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), name))
	}
	if err := s.checkNamespace(m.GetNamespace(), ns); err != nil {
		return nil, false, err
	}
	precondition := m.GetResourceVersion()
	out, err = s.GuaranteedUpdate(ctx, ns, name, precondition, o, func(runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	})
	if apierrors.IsNotFound(err) && s.res.AllowCreateOnUpdate && o.Subresource == "" && precondition == "" {
		out, err = s.Create(ctx, ns, in, o)
		return out, err == nil, err
	}
	return out, false, err
}
