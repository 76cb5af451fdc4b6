package cluster

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestUntarStaysInside(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, body := range map[string]string{"./kubelet.log": "k", "../../escape.log": "x", "pods/a/0.log": "p"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	root := t.TempDir()
	dir := filepath.Join(root, "node")
	if err := untar(&b, dir); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"kubelet.log": "k", "escape.log": "x", "pods/a/0.log": "p"} {
		if got, err := os.ReadFile(filepath.Join(dir, path)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v", path, got, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "..", "escape.log")); err == nil {
		t.Error("an entry escaped the directory")
	}
}
