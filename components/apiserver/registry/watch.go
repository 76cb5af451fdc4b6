package registry

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
)

// WatchOptions select the events of a watch.
type WatchOptions struct {
	ListOptions
	// SendInitialEvents asks for the current state as ADDED events followed
	// by a bookmark annotated k8s.io/initial-events-end (streaming lists).
	SendInitialEvents *bool
	// AllowBookmarks lets the server send BOOKMARK events.
	AllowBookmarks bool
}

// BookmarkInterval is how often an idle watch with bookmarks allowed gets one.
var BookmarkInterval = 10 * time.Second

// Watch streams changes to the selected objects of namespace ns ("" for
// all) as served objects. Objects sent are shared: callers must not modify
// them. The channel closes when ctx ends or the stream cannot continue (its
// last event is then an ERROR carrying a Status).
func (s *Store) Watch(ctx context.Context, ns string, o WatchOptions) (<-chan watch.Event, error) {
	match, err := s.matcher(ns, o.ListOptions)
	if err != nil {
		return nil, err
	}
	from, ok := parseRV(o.ResourceVersion)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", o.ResourceVersion))
	}
	sendInitial := from == 0
	if o.SendInitialEvents != nil {
		var errs field.ErrorList
		if !o.AllowBookmarks {
			errs = append(errs, field.Forbidden(field.NewPath("allowWatchBookmarks"), "sendInitialEvents requires setting allowWatchBookmarks=true"))
		}
		if o.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
			errs = append(errs, field.Forbidden(field.NewPath("resourceVersionMatch"), "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
		}
		if len(errs) > 0 {
			return nil, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "", errs)
		}
		sendInitial = *o.SendInitialEvents
	} else if o.ResourceVersionMatch != "" {
		return nil, apierrors.NewBadRequest("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
	}
	prefix := s.listPrefix(ns)
	var initial []runtime.Object
	if sendInitial {
		items, listRev, ok := s.initialFromCache(ctx, prefix, o.ResourceVersion, match)
		if !ok {
			if items, listRev, _, _, err = s.collect(ctx, prefix, "", 0, 0, match); err != nil {
				return nil, s.storageErr(err, "")
			}
		}
		initial, from = items, listRev
	}
	events, err := s.storage.Watch(ctx, s.prefix, from)
	if err != nil {
		return nil, s.storageErr(err, "")
	}
	out := make(chan watch.Event, 16)
	go func() {
		defer close(out)
		send := func(e watch.Event) bool {
			select {
			case out <- e:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for _, obj := range initial {
			served, err := s.toServed(obj)
			if err != nil || !send(watch.Event{Type: watch.Added, Object: served}) {
				return
			}
		}
		last := from
		lastBookmark := time.Now()
		if o.SendInitialEvents != nil && *o.SendInitialEvents {
			if !send(watch.Event{Type: watch.Bookmark, Object: s.bookmark(from, true)}) {
				return
			}
		}
		for ev := range events {
			switch {
			case ev.Err != nil:
				status := apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", from, last))
				if ev.Err != nil && !isCompacted(ev.Err) {
					status = apierrors.NewInternalError(ev.Err)
				}
				st := status.Status()
				st.Kind, st.APIVersion = "Status", "v1"
				send(watch.Event{Type: watch.Error, Object: &st})
				return
			case ev.Progress:
				last = ev.Revision
				if o.AllowBookmarks && time.Since(lastBookmark) >= BookmarkInterval {
					lastBookmark = time.Now()
					if !send(watch.Event{Type: watch.Bookmark, Object: s.bookmark(ev.Revision, false)}) {
						return
					}
				}
				continue
			}
			last = ev.Revision
			if s.res.Namespaced && ns != "" && s.namespaceOf(ev.Key) != ns {
				continue
			}
			typ, obj, ok := s.eventFor(ev, match)
			if !ok {
				continue
			}
			if !send(watch.Event{Type: typ, Object: obj}) {
				return
			}
		}
	}()
	return out, nil
}

// initialFromCache returns the selected objects under prefix from the watch
// cache, for a watch that starts with the current state, and the revision
// they reflect; false when etcd must provide them.
func (s *Store) initialFromCache(ctx context.Context, prefix, resourceVersion string, match *matcher) ([]runtime.Object, int64, bool) {
	c := s.cache.Load()
	if c == nil {
		return nil, 0, false
	}
	minRev, ok := c.readAt(ctx, resourceVersion)
	if !ok {
		c.stats.listsFromStorage.Add(1)
		return nil, 0, false
	}
	entries, rev, ok := c.snapshot(prefix, minRev)
	if !ok {
		c.stats.listsFromStorage.Add(1)
		return nil, 0, false
	}
	var items []runtime.Object
	for _, e := range entries {
		if match.matches(e.obj) {
			items = append(items, e.obj)
		}
	}
	c.stats.listsFromCache.Add(1)
	return items, rev, true
}

// eventFor returns the watch event a storage event makes for a watcher
// selecting match, or false when the watcher does not see it.
func (s *Store) eventFor(ev *storageEvent, match *matcher) (watch.EventType, runtime.Object, bool) {
	if ev.Deleted {
		prev := s.eventPrev(ev)
		if prev == nil || prev.err != nil || !match.matches(prev.stored) {
			return "", nil, false
		}
		return watch.Deleted, prev.served, true
	}
	cur := s.eventCur(ev)
	if cur.err != nil {
		return "", nil, false
	}
	now := match.matches(cur.stored)
	if ev.PrevValue == nil {
		return watch.Added, cur.served, now
	}
	before := true
	if !match.trivial() {
		// Only a selector needs the old object of an update.
		prev := s.eventPrev(ev)
		if prev.err != nil {
			return "", nil, false
		}
		before = match.matches(prev.stored)
	}
	switch {
	case now && before:
		return watch.Modified, cur.served, true
	case now:
		return watch.Added, cur.served, true
	case before:
		return watch.Deleted, cur.served, true
	}
	return "", nil, false
}

// eventObject is one object of a storage event, decoded once for every
// watcher and the watch cache, which share it: nobody may modify it.
type eventObject struct {
	stored, served runtime.Object
	err            error
}

// eventKey names an event's memoized objects: the new (prev false) or the
// old one, per store (two stores may share a prefix and decode differently).
type eventKey struct {
	s    *Store
	prev bool
}

// eventCur returns the object an event wrote (not for deletes).
func (s *Store) eventCur(ev *storageEvent) *eventObject {
	return ev.Memo(eventKey{s, false}, func() any {
		return s.eventObjectOf(ev.Value, ev.Revision)
	}).(*eventObject)
}

// eventPrev returns the object as it was before the event, nil for creates.
// For deletes, whose event carries it, it has the event's revision, as
// upstream's deleted objects do; for updates it may keep its own (it only
// decides selectors). The watch cache usually supplies it from memory
// before anyone asks (seedPrev); otherwise it is decoded.
func (s *Store) eventPrev(ev *storageEvent) *eventObject {
	if ev.PrevValue == nil {
		return nil
	}
	return ev.Memo(eventKey{s, true}, func() any {
		return s.eventObjectOf(ev.PrevValue, ev.Revision)
	}).(*eventObject)
}

func (s *Store) eventObjectOf(data []byte, rev int64) *eventObject {
	o := &eventObject{}
	if o.stored, o.err = s.decode(data, rev); o.err != nil {
		return o
	}
	o.served, o.err = s.servedWithKind(o.stored)
	return o
}

// servedWithKind converts a stored object into the served version with its
// kind set, as watch events and cached objects carry it.
func (s *Store) servedWithKind(stored runtime.Object) (runtime.Object, error) {
	if stored.GetObjectKind().GroupVersionKind().Empty() {
		stored.GetObjectKind().SetGroupVersionKind(s.storedGVK)
	}
	served, err := s.toServed(stored)
	if err != nil {
		return nil, err
	}
	served.GetObjectKind().SetGroupVersionKind(s.res.GVK())
	return served, nil
}

// bookmark returns an empty object carrying only a resourceVersion.
func (s *Store) bookmark(rev int64, initialEnd bool) runtime.Object {
	obj := s.res.New()
	m := MetaOf(obj)
	m.SetResourceVersion(rv(rev))
	if initialEnd {
		m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	obj.GetObjectKind().SetGroupVersionKind(s.res.GVK())
	return obj
}
