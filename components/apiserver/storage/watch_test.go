package storage

import (
	"fmt"
	"testing"
	"time"
)

func next(t *testing.T, ch <-chan *Event) *Event {
	t.Helper()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("watch closed")
			}
			if ev.Progress {
				continue
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
	}
}

func TestListPaging(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	for i := range 5 {
		if _, err := s.Create(ctx, fmt.Sprintf("/registry/cm/ns/%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.List(ctx, "/registry/cm/", ListOptions{Limit: 2})
	if err != nil || len(first.KVs) != 2 || !first.More || first.Remaining != 3 {
		t.Fatalf("first page: %+v %v", first, err)
	}
	// A write after the first page must not show in later pages at that revision.
	if _, err := s.Create(ctx, "/registry/cm/ns/9", []byte("x")); err != nil {
		t.Fatal(err)
	}
	var keys []string
	page := first
	for {
		for _, kv := range page.KVs {
			keys = append(keys, kv.Key)
		}
		if !page.More {
			break
		}
		page, err = s.List(ctx, "/registry/cm/", ListOptions{StartKey: page.NextKey, Limit: 2, Revision: first.Revision})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(keys) != 5 {
		t.Fatalf("paged keys: %v", keys)
	}
}

func TestWatchSharedAndResume(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	if err := s.StartWatching(ctx, "/registry/pods/"); err != nil {
		t.Fatal(err)
	}
	r1, _ := s.Create(ctx, "/registry/pods/ns/a", []byte("1"))
	w1, err := s.Watch(ctx, "/registry/pods/", r1)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := s.Update(ctx, "/registry/pods/ns/a", []byte("2"), r1)
	ev := next(t, w1)
	if ev.Revision != r2 || string(ev.Value) != "2" || string(ev.PrevValue) != "1" {
		t.Fatalf("update event: %+v", ev)
	}
	// A watch from an older revision replays from history.
	w2, _ := s.Watch(ctx, "/registry/pods/", r1-1)
	if ev := next(t, w2); ev.Revision != r1 {
		t.Fatalf("replay: %+v", ev)
	}
	if ev := next(t, w2); ev.Revision != r2 {
		t.Fatalf("replay 2: %+v", ev)
	}
	s.Delete(ctx, "/registry/pods/ns/a", 0)
	if ev := next(t, w1); !ev.Deleted || string(ev.PrevValue) != "2" {
		t.Fatalf("delete event: %+v", ev)
	}
	// Other prefixes are not seen.
	s.Create(ctx, "/registry/podsx/ns/a", []byte("1"))
	s.Create(ctx, "/registry/pods/ns/b", []byte("1"))
	if ev := next(t, w1); ev.Key != "/registry/pods/ns/b" {
		t.Fatalf("got %s", ev.Key)
	}
}

func TestWatchCompacted(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	r1, _ := s.Create(ctx, "/registry/cm/ns/a", []byte("1"))
	r2, _ := s.Update(ctx, "/registry/cm/ns/a", []byte("2"), r1)
	s.Update(ctx, "/registry/cm/ns/a", []byte("3"), r2)
	if err := s.Compact(ctx, r2+1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, "/registry/cm/", ListOptions{Revision: r1}); err != ErrCompacted {
		t.Fatalf("list at compacted revision: %v", err)
	}
	// The hub starts now, so a watch from r1 goes to etcd and must fail.
	w, err := s.Watch(ctx, "/registry/cm/", r1)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w:
		if ev == nil || ev.Err != ErrCompacted {
			t.Fatalf("want compacted error, got %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no error")
	}
}

func TestWatchProgress(t *testing.T) {
	old := progressInterval
	progressInterval = 50 * time.Millisecond
	defer func() { progressInterval = old }()
	s := newTestStore(t)
	ctx := t.Context()
	w, err := s.Watch(ctx, "/registry/leases/", 0)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Create(ctx, "/registry/other/x", []byte("1"))
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-w:
			if ev.Progress && ev.Revision >= r {
				return
			}
		case <-deadline:
			t.Fatal("no progress event reached the other key's revision")
		}
	}
}
