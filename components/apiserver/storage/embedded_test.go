package storage

import (
	"testing"
)

func newTestStore(t *testing.T) *Store {
	t.Helper()
	e, err := StartEmbedded(t.Context(), EmbeddedOptions{Dir: t.TempDir(), UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return New(e.Client)
}

func TestCreateUpdateDelete(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	rev, err := s.Create(ctx, "/registry/pods/ns/a", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "/registry/pods/ns/a", []byte("1")); err != ErrExists {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	if _, err := s.Update(ctx, "/registry/pods/ns/a", []byte("2"), rev-1); err != ErrConflict {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}
	rev2, err := s.Update(ctx, "/registry/pods/ns/a", []byte("2"), rev)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := s.Get(ctx, "/registry/pods/ns/a")
	if err != nil || string(kv.Value) != "2" || kv.ModRevision != rev2 {
		t.Fatalf("get: %+v %v", kv, err)
	}
	if _, err := s.Update(ctx, "/registry/pods/ns/b", []byte("2"), 1); err != ErrNotFound {
		t.Fatalf("update missing: got %v", err)
	}
	if _, err := s.Delete(ctx, "/registry/pods/ns/a", rev); err != ErrConflict {
		t.Fatalf("stale delete: got %v", err)
	}
	if _, err := s.Delete(ctx, "/registry/pods/ns/a", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "/registry/pods/ns/a"); err != ErrNotFound {
		t.Fatalf("get deleted: %v", err)
	}
}
