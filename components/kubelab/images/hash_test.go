package images

import (
	"os"
	"path/filepath"
	"testing"
)

// writeTree creates files (path -> content) under a new temp dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestContextHash(t *testing.T) {
	base := map[string]string{"Dockerfile": "FROM scratch\nCOPY bin/x /x\n", "bin/x": "binary-1"}
	args := map[string]string{"A": "1"}
	ref := mustHash(t, writeTree(t, base), args)
	if len(ref) != hashLen {
		t.Fatalf("hash %q has %d digits, want %d", ref, len(ref), hashLen)
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string) map[string]string // returns build args
		same   bool
	}{
		{name: "same content in another directory", same: true, mutate: func(*testing.T, string) map[string]string { return args }},
		{name: "same args in another map order", same: true, mutate: func(*testing.T, string) map[string]string {
			return map[string]string{"A": "1"}
		}},
		{name: "binary changed", mutate: func(t *testing.T, dir string) map[string]string {
			write(t, filepath.Join(dir, "bin/x"), "binary-2")
			return args
		}},
		{name: "Dockerfile changed", mutate: func(t *testing.T, dir string) map[string]string {
			write(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\nCOPY bin/x /y\n")
			return args
		}},
		{name: "file added", mutate: func(t *testing.T, dir string) map[string]string {
			write(t, filepath.Join(dir, "bin/y"), "")
			return args
		}},
		{name: "file renamed", mutate: func(t *testing.T, dir string) map[string]string {
			if err := os.Rename(filepath.Join(dir, "bin/x"), filepath.Join(dir, "bin/z")); err != nil {
				t.Fatal(err)
			}
			return args
		}},
		{name: "mode changed", mutate: func(t *testing.T, dir string) map[string]string {
			if err := os.Chmod(filepath.Join(dir, "bin/x"), 0o755); err != nil {
				t.Fatal(err)
			}
			return args
		}},
		{name: "sticky bit on a directory", mutate: func(t *testing.T, dir string) map[string]string {
			if err := os.Chmod(filepath.Join(dir, "bin"), 0o755|os.ModeSticky); err != nil {
				t.Fatal(err)
			}
			return args
		}},
		{name: "build arg value changed", mutate: func(*testing.T, string) map[string]string { return map[string]string{"A": "2"} }},
		{name: "build arg added", mutate: func(*testing.T, string) map[string]string { return map[string]string{"A": "1", "B": ""} }},
		{name: "no build args", mutate: func(*testing.T, string) map[string]string { return nil }},
		{name: "content moved between files", mutate: func(t *testing.T, dir string) map[string]string {
			// "FROM scratch\nCOPY bin/x /x\n" + "binary-1" split differently must not collide.
			write(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\nCOPY bin/x /x\nb")
			write(t, filepath.Join(dir, "bin/x"), "inary-1")
			return args
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, base)
			got := mustHash(t, dir, tc.mutate(t, dir))
			if (got == ref) != tc.same {
				t.Errorf("hash %s vs reference %s: same=%t, want same=%t", got, ref, got == ref, tc.same)
			}
		})
	}
}

func TestContextHashSymlink(t *testing.T) {
	hashWithLink := func(target string) string {
		dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n"})
		if err := os.Symlink(target, filepath.Join(dir, "link")); err != nil {
			t.Fatal(err)
		}
		return mustHash(t, dir, nil)
	}
	if hashWithLink("a") == hashWithLink("b") {
		t.Error("symlink target does not change the hash")
	}
	if hashWithLink("a") != hashWithLink("a") {
		t.Error("same symlink hashes differently")
	}
}

func TestContextHashMissingDir(t *testing.T) {
	if _, err := ContextHash(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("want an error for a missing context")
	}
}

func TestHashInputs(t *testing.T) {
	dir := writeTree(t, map[string]string{"script.sh": "echo 1\n", "other.sh": "echo 2\n"})
	script, other := filepath.Join(dir, "script.sh"), filepath.Join(dir, "other.sh")
	a, err := HashInputs(map[string]string{"mirror": ""}, script)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		values map[string]string
		files  []string
		same   bool
	}{
		{"same inputs", map[string]string{"mirror": ""}, []string{script}, true},
		{"value changed", map[string]string{"mirror": "http://m"}, []string{script}, false},
		{"other file", map[string]string{"mirror": ""}, []string{other}, false},
		{"extra file", map[string]string{"mirror": ""}, []string{script, other}, false},
	}
	for _, tc := range tests {
		b, err := HashInputs(tc.values, tc.files...)
		if err != nil {
			t.Fatal(err)
		}
		if (a == b) != tc.same {
			t.Errorf("%s: same=%t, want %t", tc.name, a == b, tc.same)
		}
	}
	if _, err := HashInputs(nil, filepath.Join(dir, "missing")); err == nil {
		t.Error("want an error for a missing file")
	}
}

func mustHash(t *testing.T, dir string, args map[string]string) string {
	t.Helper()
	h, err := ContextHash(dir, args)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
