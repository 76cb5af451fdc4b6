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
		items, listRev, _, _, err := s.collect(ctx, prefix, "", 0, 0, match)
		if err != nil {
			return nil, s.storageErr(err, "")
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
			d := s.decodeEvent(ev)
			if d.err != nil {
				continue
			}
			var typ watch.EventType
			var obj runtime.Object
			switch {
			case ev.Deleted:
				if d.prev == nil || !match.matches(d.prevStored) {
					continue
				}
				typ, obj = watch.Deleted, d.prev
			case d.prevStored == nil:
				if !match.matches(d.curStored) {
					continue
				}
				typ, obj = watch.Added, d.cur
			default:
				now, before := match.matches(d.curStored), match.matches(d.prevStored)
				switch {
				case now && before:
					typ, obj = watch.Modified, d.cur
				case now:
					typ, obj = watch.Added, d.cur
				case before:
					typ, obj = watch.Deleted, d.cur
				default:
					continue
				}
			}
			if !send(watch.Event{Type: typ, Object: obj}) {
				return
			}
		}
	}()
	return out, nil
}

// decoded is an event's objects, decoded once for every watcher.
type decoded struct {
	cur, prev             runtime.Object // served
	curStored, prevStored runtime.Object
	err                   error
}

func (s *Store) decodeEvent(ev *storageEvent) *decoded {
	return ev.Memo(s, func() any {
		d := &decoded{}
		if !ev.Deleted {
			if d.curStored, d.err = s.decode(ev.Value, ev.Revision); d.err != nil {
				return d
			}
			d.cur, d.err = s.toServed(d.curStored)
		}
		if ev.PrevValue != nil {
			if d.prevStored, d.err = s.decode(ev.PrevValue, ev.Revision); d.err != nil {
				return d
			}
			d.prev, d.err = s.toServed(d.prevStored)
		}
		for _, o := range []runtime.Object{d.cur, d.prev} {
			if o != nil {
				o.GetObjectKind().SetGroupVersionKind(s.res.GVK())
			}
		}
		return d
	}).(*decoded)
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
