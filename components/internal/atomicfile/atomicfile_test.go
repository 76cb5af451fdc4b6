package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, tc := range []struct {
		name string
		data string
		mode os.FileMode
	}{
		{"new file", "one", 0o600},
		{"replaced, new mode", "two", 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Write(path, []byte(tc.data), tc.mode); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != tc.data {
				t.Fatalf("read %q, %v; want %q", got, err, tc.data)
			}
			if info, err := os.Stat(path); err != nil || info.Mode().Perm() != tc.mode {
				t.Fatalf("mode %v, %v; want %v", info.Mode().Perm(), err, tc.mode)
			}
			assertNoTemp(t, filepath.Dir(path))
		})
	}
}

func TestCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, tc := range []struct {
		name        string
		data        string
		wantCreated bool
		wantData    string
	}{
		{"absent: created", "first", true, "first"},
		{"present: kept", "second", false, "first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created, err := Create(path, []byte(tc.data), 0o600)
			if err != nil || created != tc.wantCreated {
				t.Fatalf("Create = %v, %v; want %v", created, err, tc.wantCreated)
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != tc.wantData {
				t.Fatalf("read %q, %v; want %q", got, err, tc.wantData)
			}
			assertNoTemp(t, filepath.Dir(path))
		})
	}
}

func TestWriteMissingDir(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "no", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
}

// assertNoTemp fails when a temporary file is left in dir.
func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d entries in %s, want only the file", len(entries), dir)
	}
}
