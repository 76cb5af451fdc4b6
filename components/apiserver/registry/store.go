package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/kubelab/kubelab/components/apiserver/storage"
)

// Hooks add admission-like steps around a resource's writes.
type Hooks struct {
	// Admit runs on create and update (old is nil on create) after
	// validation and before the write. It may allocate resources (service
	// IPs) and returns undo, called if the write does not happen.
	Admit func(ctx context.Context, obj, old runtime.Object, dryRun bool) (undo func(), err error)
	// Updated runs after an update of old to obj was stored (it may free
	// what old held and obj no longer does).
	Updated func(ctx context.Context, obj, old runtime.Object)
	// Deleted runs after an object was removed from storage.
	Deleted func(ctx context.Context, obj runtime.Object)
}

// NamespaceChecker reports an API error when objects may not be created in
// namespace ns (it does not exist or is terminating).
type NamespaceChecker func(ctx context.Context, ns string) error

// Store serves one resource from etcd with upstream's object semantics.
type Store struct {
	res        *Resource
	storage    *storage.Store
	prefix     string
	gr         schema.GroupResource
	storedGVK  schema.GroupVersionKind
	namespaces NamespaceChecker
	hooks      Hooks

	managersOnce sync.Once
	managers     map[string]*managedfields.FieldManager
	managersErr  error

	// cache serves reads from memory when set (StartWatchCache).
	cache atomic.Pointer[watchCache]
	// protobufItems is true when cached lists may be encoded from their
	// items' kept encodings (protobufList).
	protobufItems bool
}

// NewStore returns the store for res over s. namespaces may be nil for
// cluster-scoped resources.
func NewStore(res *Resource, s *storage.Store, namespaces NamespaceChecker, hooks Hooks) *Store {
	name := res.Name
	if res.StorageResource != "" {
		name = res.StorageResource
	}
	st := &Store{
		res: res, storage: s, prefix: "/registry/" + name + "/",
		gr:         schema.GroupResource{Group: res.GroupVersion.Group, Resource: res.Name},
		storedGVK:  res.GVK(),
		namespaces: namespaces, hooks: hooks,
		protobufItems: hasProtobufListLayout(res),
	}
	if res.Codec != nil {
		gvks, _, err := scheme.Scheme.ObjectKinds(res.Codec.NewStored())
		if err == nil && len(gvks) > 0 {
			st.storedGVK = gvks[0]
		}
	}
	return st
}

// Resource returns the resource this store serves.
func (s *Store) Resource() *Resource { return s.res }

// Prefix returns the etcd key prefix of the resource.
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) key(ns, name string) string {
	if s.res.Namespaced {
		return s.prefix + ns + "/" + name
	}
	return s.prefix + name
}

func (s *Store) newStored() runtime.Object {
	if s.res.Codec != nil {
		return s.res.Codec.NewStored()
	}
	return s.res.New()
}

// storageCodec writes objects to etcd in upstream's storage encoding:
// protobuf in the "k8s\x00" envelope, about five times cheaper to decode
// than JSON (lists decode every item).
var storageCodec = protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)

// protobufPrefix starts every protobuf value; values without it are JSON,
// as kubelab stored objects before.
var protobufPrefix = []byte("k8s\x00")

// decode turns stored bytes (protobuf or JSON) into a stored object at revision rev.
func (s *Store) decode(data []byte, rev int64) (runtime.Object, error) {
	obj := s.newStored()
	var err error
	if bytes.HasPrefix(data, protobufPrefix) {
		obj, _, err = storageCodec.Decode(data, nil, obj)
	} else {
		err = json.Unmarshal(data, obj)
	}
	if err != nil {
		return nil, fmt.Errorf("decode stored %s: %w", s.gr, err)
	}
	MetaOf(obj).SetResourceVersion(rv(rev))
	return obj, nil
}

func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	obj.GetObjectKind().SetGroupVersionKind(s.storedGVK)
	m := MetaOf(obj)
	saved := m.GetResourceVersion()
	m.SetResourceVersion("")
	var buf bytes.Buffer
	err := storageCodec.Encode(obj, &buf)
	m.SetResourceVersion(saved)
	return buf.Bytes(), err
}

// toServed converts a stored object into the served version.
func (s *Store) toServed(obj runtime.Object) (runtime.Object, error) {
	if s.res.Codec == nil {
		return obj, nil
	}
	return s.res.Codec.FromStored(obj)
}

// toStored converts a served object into the stored version.
func (s *Store) toStored(obj runtime.Object) (runtime.Object, error) {
	if s.res.Codec == nil {
		return obj, nil
	}
	return s.res.Codec.ToStored(obj)
}

// storageErr maps storage errors to API errors.
func (s *Store) storageErr(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(s.gr, name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(s.gr, name)
	case errors.Is(err, storage.ErrConflict):
		return conflict(s.gr, name)
	case errors.Is(err, storage.ErrCompacted):
		return apierrors.NewResourceExpired("The resourceVersion for the provided list is too old.")
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	return apierrors.NewInternalError(err)
}

func conflict(gr schema.GroupResource, name string) error {
	return apierrors.NewConflict(gr, name, errors.New(OptimisticLockErrorMsg))
}

// OptimisticLockErrorMsg is upstream's message for a stale resourceVersion.
const OptimisticLockErrorMsg = "the object has been modified; please apply your changes to the latest version and try again"

// Get returns the object ns/name in the served version, as etcd has it now.
func (s *Store) Get(ctx context.Context, ns, name string) (runtime.Object, error) {
	obj, err := s.getStored(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return s.toServed(obj)
}

// GetAt returns the object ns/name with a get's resourceVersion semantics:
// "0" (any version) is served from the watch cache when there is one, as
// upstream does; anything else reads etcd's latest (which is never older
// than a given version).
func (s *Store) GetAt(ctx context.Context, ns, name, resourceVersion string) (runtime.Object, error) {
	if c := s.cache.Load(); c != nil && resourceVersion == "0" {
		if obj, ok := c.get(s.key(ns, name)); ok {
			c.stats.gets.Add(1)
			if obj == nil {
				return nil, apierrors.NewNotFound(s.gr, name)
			}
			// A copy of the top-level struct: what callers set on it
			// (its kind) stays out of the cache.
			return s.toServed(shallowCopy(obj))
		}
	}
	return s.Get(ctx, ns, name)
}

func (s *Store) getStored(ctx context.Context, ns, name string) (runtime.Object, error) {
	kv, err := s.storage.Get(ctx, s.key(ns, name))
	if err != nil {
		return nil, s.storageErr(err, name)
	}
	return s.decode(kv.Value, kv.ModRevision)
}

// WriteOptions are the request parameters writes honour.
type WriteOptions struct {
	// DryRun validates and returns the result without storing it.
	DryRun bool
	// FieldManager names the writer in managedFields.
	FieldManager string
	// Subresource is "" or "status" for updates and patches; "binding" and
	// "finalize" are raw writes the API server makes for those subresources.
	Subresource string

	// appliedManagedFields is set when server-side apply already computed
	// managedFields.
	appliedManagedFields bool
}

func (s *Store) fieldManager(sub string) (*managedfields.FieldManager, error) {
	s.managersOnce.Do(func() {
		s.managers = map[string]*managedfields.FieldManager{}
		tc := typeConverter()
		gv := fieldpath.APIVersion(s.storedGVK.GroupVersion().String())
		main := map[fieldpath.APIVersion]fieldpath.Filter{}
		status := map[fieldpath.APIVersion]fieldpath.Filter{}
		if s.res.HasStatus {
			main[gv] = fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status")))
			status[gv] = fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata")))
		}
		for sub, reset := range map[string]map[fieldpath.APIVersion]fieldpath.Filter{"": main, "status": status} {
			fm, err := managedfields.NewDefaultFieldManager(tc, scheme.Scheme, defaulter{s.res.Strategy}, scheme.Scheme,
				s.storedGVK, s.storedGVK.GroupVersion(), sub, reset)
			if err != nil {
				s.managersErr = fmt.Errorf("field manager for %s: %w", s.gr, err)
				return
			}
			s.managers[sub] = fm
		}
	})
	if s.managersErr != nil {
		return nil, s.managersErr
	}
	fm := s.managers[sub]
	if fm == nil {
		fm = s.managers[""]
	}
	return fm, nil
}

var (
	tcOnce sync.Once
	tc     managedfields.TypeConverter
)

func typeConverter() managedfields.TypeConverter {
	tcOnce.Do(func() { tc = applyconfigurations.NewTypeConverter(scheme.Scheme) })
	return tc
}

// defaulter adapts a Strategy to runtime.ObjectDefaulter for the field manager.
type defaulter struct{ s Strategy }

func (d defaulter) Default(obj runtime.Object) { d.s.Default(obj) }

// trackManagedFields records the writer of obj's fields; old is nil on create.
func (s *Store) trackManagedFields(obj, old runtime.Object, o WriteOptions) (runtime.Object, error) {
	if o.appliedManagedFields {
		return obj, nil
	}
	fm, err := s.fieldManager(o.Subresource)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	live := old
	if live == nil {
		live = s.newStored()
	}
	manager := o.FieldManager
	if manager == "" {
		manager = "unknown"
	}
	return fm.UpdateNoErrors(live, obj, manager), nil
}

// Create stores a new object (served version) in namespace ns.
func (s *Store) Create(ctx context.Context, ns string, in runtime.Object, o WriteOptions) (runtime.Object, error) {
	obj, err := s.toStored(in.DeepCopyObject())
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	m := MetaOf(obj)
	if err := s.checkNamespace(m.GetNamespace(), ns); err != nil {
		return nil, err
	}
	if s.res.Namespaced {
		m.SetNamespace(ns)
		if s.namespaces != nil {
			if err := s.namespaces(ctx, ns); err != nil {
				return nil, err
			}
		}
	} else {
		m.SetNamespace("")
	}
	generated := m.GetName() == "" && m.GetGenerateName() != ""
	for attempt := 0; ; attempt++ {
		if generated {
			m.SetName(generateName(m.GetGenerateName()))
		}
		out, err := s.create(ctx, obj.DeepCopyObject(), o)
		if generated && apierrors.IsAlreadyExists(err) && attempt < 5 {
			continue
		}
		return out, err
	}
}

func (s *Store) checkNamespace(objNS, urlNS string) error {
	if !s.res.Namespaced || objNS == "" || objNS == urlNS {
		return nil
	}
	return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
}

func (s *Store) create(ctx context.Context, obj runtime.Object, o WriteOptions) (runtime.Object, error) {
	m := MetaOf(obj)
	m.SetUID(types.UID(uuid.NewUUID()))
	m.SetCreationTimestamp(now())
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetSelfLink("")
	if s.res.Strategy.GenerationTracked() {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
	if s.res.HasStatus && !s.res.CreateWithStatus {
		resetStatus(obj)
	}
	s.res.Strategy.PrepareForCreate(obj)
	s.res.Strategy.Default(obj)
	if errs := s.res.Strategy.Validate(obj); len(errs) > 0 {
		return nil, apierrors.NewInvalid(s.storedGVK.GroupKind(), m.GetName(), errs)
	}
	obj, err := s.trackManagedFields(obj, nil, o)
	if err != nil {
		return nil, err
	}
	undo := func() {}
	if s.hooks.Admit != nil {
		if undo, err = s.hooks.Admit(ctx, obj, nil, o.DryRun); err != nil {
			return nil, err
		}
	}
	if o.DryRun {
		undo()
		return s.toServed(obj)
	}
	data, err := s.encode(obj)
	if err != nil {
		undo()
		return nil, apierrors.NewInternalError(err)
	}
	rev, err := s.storage.Create(ctx, s.key(m.GetNamespace(), m.GetName()), data)
	if err != nil {
		undo()
		return nil, s.storageErr(err, m.GetName())
	}
	m.SetResourceVersion(rv(rev))
	return s.toServed(obj)
}

// namespaceOf returns the namespace part of a stored key.
func (s *Store) namespaceOf(key string) string {
	if !s.res.Namespaced {
		return ""
	}
	rest := strings.TrimPrefix(key, s.prefix)
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i]
	}
	return ""
}

type storageEvent = storage.Event

func isCompacted(err error) bool { return errors.Is(err, storage.ErrCompacted) }

// ToStored converts a served object into its stored form, for printing.
func (s *Store) ToStored(obj runtime.Object) (runtime.Object, error) { return s.toStored(obj) }
