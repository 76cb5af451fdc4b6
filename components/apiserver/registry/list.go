package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubelab/kubelab/components/apiserver/storage"
)

// ListOptions select the objects of a list or watch.
type ListOptions struct {
	LabelSelector        labels.Selector
	FieldSelector        fields.Selector
	Limit                int64
	Continue             string
	ResourceVersion      string
	ResourceVersionMatch metav1.ResourceVersionMatch
}

// matcher decides whether a stored object is selected.
type matcher struct {
	ns     string
	labels labels.Selector
	fields fields.Selector
	store  *Store
}

func (s *Store) matcher(ns string, o ListOptions) (*matcher, error) {
	m := &matcher{ns: ns, labels: o.LabelSelector, fields: o.FieldSelector, store: s}
	if m.fields != nil && !m.fields.Empty() {
		allowed := s.res.Strategy.SelectableFields(s.newStored())
		for _, r := range m.fields.Requirements() {
			if r.Field == "metadata.name" || r.Field == "metadata.namespace" {
				continue
			}
			if _, ok := allowed[r.Field]; !ok {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", r.Field))
			}
		}
	}
	return m, nil
}

func (m *matcher) trivial() bool {
	return (m.labels == nil || m.labels.Empty()) && (m.fields == nil || m.fields.Empty())
}

func (m *matcher) matches(obj runtime.Object) bool {
	om := MetaOf(obj)
	if m.labels != nil && !m.labels.Empty() && !m.labels.Matches(labels.Set(om.GetLabels())) {
		return false
	}
	if m.fields != nil && !m.fields.Empty() {
		set := fields.Set{"metadata.name": om.GetName()}
		if m.store.res.Namespaced {
			set["metadata.namespace"] = om.GetNamespace()
		}
		for k, v := range m.store.res.Strategy.SelectableFields(obj) {
			set[k] = v
		}
		if !m.fields.Matches(set) {
			return false
		}
	}
	return true
}

func (s *Store) listPrefix(ns string) string {
	if s.res.Namespaced && ns != "" {
		return s.prefix + ns + "/"
	}
	return s.prefix
}

// continueToken is upstream's continue format.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

func encodeContinue(rev int64, key, prefix string) string {
	data, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: rev, StartKey: strings.TrimPrefix(key, prefix)})
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeContinue(token, prefix string) (int64, string, error) {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, "", apierrors.NewBadRequest(fmt.Sprintf("continue key is not valid: %v", err))
	}
	var c continueToken
	if err := json.Unmarshal(data, &c); err != nil || c.APIVersion != "meta.k8s.io/v1" || c.ResourceVersion <= 0 {
		return 0, "", apierrors.NewBadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
	}
	if strings.Contains(c.StartKey, "..") || strings.HasPrefix(c.StartKey, "/") {
		return 0, "", apierrors.NewBadRequest("continue key is not valid: invalid start key")
	}
	return c.ResourceVersion, prefix + c.StartKey, nil
}

// List returns the selected objects of namespace ns ("" for all) as the
// served list type. Its items may share maps, slices and pointers with the
// watch cache: callers must not modify what is inside them.
func (s *Store) List(ctx context.Context, ns string, o ListOptions) (runtime.Object, error) {
	return s.list(ctx, ns, o, false)
}

// ListProtobuf is List for a response encoded as protobuf: the object it
// returns encodes with the protobuf serializer to the bytes List's list
// would, and is meant for nothing else. Served from the watch cache, it
// reuses each object's encoding from earlier lists until the object
// changes, instead of encoding every item again.
func (s *Store) ListProtobuf(ctx context.Context, ns string, o ListOptions) (runtime.Object, error) {
	return s.list(ctx, ns, o, true)
}

func (s *Store) list(ctx context.Context, ns string, o ListOptions, encoded bool) (runtime.Object, error) {
	match, err := s.matcher(ns, o)
	if err != nil {
		return nil, err
	}
	prefix := s.listPrefix(ns)
	var rev int64
	start := ""
	exact := false
	if o.Continue != "" {
		if o.ResourceVersion != "" && o.ResourceVersion != "0" {
			return nil, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
		}
		if rev, start, err = decodeContinue(o.Continue, prefix); err != nil {
			return nil, err
		}
		exact = true
	} else {
		want, ok := parseRV(o.ResourceVersion)
		if !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", o.ResourceVersion))
		}
		if o.ResourceVersionMatch == metav1.ResourceVersionMatchExact {
			if want == 0 {
				return nil, apierrors.NewBadRequest("resourceVersionMatch=Exact requires a non-zero resourceVersion")
			}
			rev, exact = want, true
		} else if o.ResourceVersionMatch != "" && o.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unsupported resourceVersionMatch %q", o.ResourceVersionMatch))
		}
	}
	c := s.cache.Load()
	if c != nil && o.Continue == "" && !exact {
		if entries, lm, ok := s.listFromCache(ctx, c, prefix, o, match); ok {
			c.stats.listsFromCache.Add(1)
			if encoded && s.protobufItems {
				return newProtobufList(s.res.GVK().GroupVersion().WithKind(s.res.Kind+"List"), entries, lm), nil
			}
			items := make([]runtime.Object, len(entries))
			for i, e := range entries {
				items[i] = e.obj
			}
			return s.newList(items, lm)
		}
		c.stats.listsFromStorage.Add(1)
	}
	items, listRev, next, remaining, err := s.collect(ctx, prefix, start, rev, o.Limit, match)
	if err != nil {
		if errors.Is(err, storage.ErrCompacted) {
			if o.Continue != "" {
				return nil, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
			}
			return nil, apierrors.NewResourceExpired("The resourceVersion for the provided list is too old.")
		}
		if errors.Is(err, storage.ErrFutureRevision) {
			return nil, tooLargeResourceVersion(fmt.Sprintf("Too large resource version: %d", rev))
		}
		return nil, s.storageErr(err, "")
	}
	if want, _ := parseRV(o.ResourceVersion); !exact && want > listRev {
		return nil, tooLargeResourceVersion(fmt.Sprintf("Too large resource version: %d, current: %d", want, listRev))
	}
	return s.newList(items, listMeta(listRev, next, remaining, prefix, match))
}

// listFromCache selects a list that is not a continuation or an exact read
// from the watch cache, with the semantics of its resourceVersion (see
// readAt), and returns the selected entries and the list's metadata. As
// upstream's cache does, it ignores the limit of a list at
// resourceVersion "0" (reflectors' first list) and returns everything;
// other limited lists get a page and a continue token at the cache's
// revision, whose following pages etcd serves at that revision. ok is
// false when etcd must serve the list.
func (s *Store) listFromCache(ctx context.Context, c *watchCache, prefix string, o ListOptions, match *matcher) ([]*cacheEntry, metav1.ListMeta, bool) {
	minRev, ok := c.readAt(ctx, o.ResourceVersion)
	if !ok {
		return nil, metav1.ListMeta{}, false
	}
	entries, rev, ok := c.snapshot(prefix, minRev)
	if !ok {
		return nil, metav1.ListMeta{}, false
	}
	limit := o.Limit
	if o.ResourceVersion == "0" {
		limit = 0
	}
	if match.trivial() && limit <= 0 {
		return entries, listMeta(rev, "", 0, prefix, match), true
	}
	selected := entries[:0:0]
	var next string
	var remaining int64
	for i, e := range entries {
		if !match.matches(e.obj) {
			continue
		}
		selected = append(selected, e)
		if limit > 0 && int64(len(selected)) == limit {
			if i < len(entries)-1 {
				next, remaining = e.key+"\x00", int64(len(entries)-1-i)
			}
			break
		}
	}
	return selected, listMeta(rev, next, remaining, prefix, match), true
}

// listMeta is the metadata of a list read at rev; next, when set, is the
// key the following page starts at and remaining how many keys follow it.
func listMeta(rev int64, next string, remaining int64, prefix string, match *matcher) metav1.ListMeta {
	lm := metav1.ListMeta{ResourceVersion: rv(rev)}
	if next != "" {
		lm.Continue = encodeContinue(rev, next, prefix)
		if match.trivial() && remaining > 0 {
			lm.RemainingItemCount = &remaining
		}
	}
	return lm
}

// newList returns the served list of stored items with metadata lm. Its
// items are copies of the objects' top-level structs, so what callers set
// on an item itself (its kind) stays out of the cache.
func (s *Store) newList(items []runtime.Object, lm metav1.ListMeta) (runtime.Object, error) {
	list := s.res.NewList()
	served := make([]runtime.Object, 0, len(items))
	for _, it := range items {
		out, err := s.toServed(it)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		served = append(served, out)
	}
	if err := meta.SetList(list, served); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	acc, err := meta.ListAccessor(list)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	acc.SetResourceVersion(lm.ResourceVersion)
	acc.SetContinue(lm.Continue)
	acc.SetRemainingItemCount(lm.RemainingItemCount)
	return list, nil
}

// tooLargeResourceVersion is upstream's 504 for a resourceVersion not yet
// reached, with the cause reflectors look for to relist from the latest.
func tooLargeResourceVersion(msg string) error {
	err := apierrors.NewTimeoutError(msg, 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{
		Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

// collect reads matching objects under prefix from start at rev (0:
// latest), at most limit (0: all). next is where a following page starts.
func (s *Store) collect(ctx context.Context, prefix, start string, rev, limit int64, match *matcher) (items []runtime.Object, listRev int64, next string, remaining int64, err error) {
	pageSize := limit
	if pageSize <= 0 {
		pageSize = 0
	} else if !match.trivial() && pageSize < 500 {
		pageSize = 500
	}
	for {
		res, err := s.storage.List(ctx, prefix, storage.ListOptions{StartKey: start, Limit: pageSize, Revision: rev})
		if err != nil {
			return nil, 0, "", 0, err
		}
		rev = res.Revision
		for i, kv := range res.KVs {
			obj, err := s.decode(kv.Value, kv.ModRevision)
			if err != nil {
				return nil, 0, "", 0, err
			}
			if !match.matches(obj) {
				continue
			}
			items = append(items, obj)
			if limit > 0 && int64(len(items)) == limit {
				if i < len(res.KVs)-1 || res.More {
					left := res.Remaining + int64(len(res.KVs)-1-i)
					return items, rev, kv.Key + "\x00", left, nil
				}
				return items, rev, "", 0, nil
			}
		}
		if !res.More {
			return items, rev, "", 0, nil
		}
		start = res.NextKey
	}
}
