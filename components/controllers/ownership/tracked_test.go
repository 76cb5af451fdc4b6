package ownership

import "testing"

func TestTrackedExpectationsCountEachPodOnce(t *testing.T) {
	e := NewTrackedExpectations()
	e.ExpectDeletions("rs", []string{"ns/a", "ns/b"})
	// A graceful delete is seen twice (deletionTimestamp, then gone).
	e.DeletionObserved("rs", "ns/a")
	e.DeletionObserved("rs", "ns/a")
	e.DeletionObserved("rs", "ns/unrelated")
	if e.Satisfied("rs") {
		t.Fatal("ns/b's deletion is still unobserved")
	}
	e.DeletionObserved("rs", "ns/b")
	if !e.Satisfied("rs") {
		t.Fatal("both deletions observed")
	}
	e.ExpectCreations("rs", 1)
	e.DeletionObserved("rs", "ns/a")
	if e.Satisfied("rs") {
		t.Fatal("creations replace the tracked deletions")
	}
	e.Forget("rs")
	if !e.Satisfied("rs") {
		t.Fatal("forgotten")
	}
}
