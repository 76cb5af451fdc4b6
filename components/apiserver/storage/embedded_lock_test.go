package storage

import (
	"strings"
	"testing"
	"time"
)

// TestEmbeddedDataDirInUse checks that a second etcd on a data directory in
// use fails at once with a clear error, instead of waiting forever for
// etcd's own file locks, and that the directory is free again after Close.
func TestEmbeddedDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	first, err := StartEmbedded(t.Context(), EmbeddedOptions{Dir: dir, UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		e   *Embedded
		err error
	}
	done := make(chan result, 1)
	go func() {
		e, err := StartEmbedded(t.Context(), EmbeddedOptions{Dir: dir, UnsafeNoFsync: true})
		done <- result{e, err}
	}()
	select {
	case r := <-done:
		if r.err == nil {
			r.e.Close()
			t.Fatal("second StartEmbedded on a data dir in use succeeded")
		}
		if !strings.Contains(r.err.Error(), dir) || !strings.Contains(r.err.Error(), "in use") {
			t.Errorf("second StartEmbedded: %v; want an error naming %s as in use", r.err, dir)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second StartEmbedded on a data dir in use still waits after 10s")
	}
	if _, err := first.Client.Put(t.Context(), "/k", "v"); err != nil {
		t.Fatalf("first etcd after the refused second: %v", err)
	}
	first.Close()
	again, err := StartEmbedded(t.Context(), EmbeddedOptions{Dir: dir, UnsafeNoFsync: true})
	if err != nil {
		t.Fatalf("StartEmbedded after Close: %v", err)
	}
	again.Close()
}
