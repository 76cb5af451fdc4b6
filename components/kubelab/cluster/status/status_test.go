package status

import (
	"bytes"
	"testing"
)

func TestStatusLines(t *testing.T) {
	var b bytes.Buffer
	s := New(&b)
	s.Start("Preparing nodes 📦")
	s.Start("Writing configuration 📜")
	s.Printf("a note")
	s.End(false)
	s.End(true) // nothing in progress: no line
	want := " • Preparing nodes 📦  ...\n ✓ Preparing nodes 📦\n • Writing configuration 📜  ...\na note\n ✗ Writing configuration 📜\n"
	if b.String() != want {
		t.Errorf("output =\n%q\nwant\n%q", b.String(), want)
	}
}
