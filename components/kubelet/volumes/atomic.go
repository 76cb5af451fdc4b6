package volumes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// File is one file of a volume's payload.
type File struct {
	Data []byte
	Mode os.FileMode
}

// dataLink is the symlink to the current payload directory, as upstream's
// atomic writer: readers see the old or the new payload, never a mix.
const dataLink = "..data"

// writeAtomic makes dir hold exactly payload (relative path -> file): the
// files go to a fresh hidden directory, the ..data link is swapped to it,
// and each top-level name links through ..data. It reports whether
// anything changed.
func writeAtomic(dir string, payload map[string]File) (bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	for p := range payload {
		if !validPath(p) {
			return false, fmt.Errorf("invalid path %q in volume payload", p)
		}
	}
	oldTarget, _ := os.Readlink(filepath.Join(dir, dataLink))
	if oldTarget != "" && samePayload(filepath.Join(dir, oldTarget), payload) {
		return false, nil
	}
	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, err
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return false, err
	}
	for p, f := range payload {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return false, err
		}
		if err := os.WriteFile(full, f.Data, f.Mode); err != nil {
			return false, err
		}
		if err := os.Chmod(full, f.Mode); err != nil {
			return false, err
		}
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return false, err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataLink)); err != nil {
		return false, err
	}
	top := map[string]bool{}
	for p := range payload {
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == dataLink || name == filepath.Base(tsDir):
		case strings.HasPrefix(name, ".."):
			_ = os.RemoveAll(filepath.Join(dir, name)) // an old payload
		case !top[name]:
			_ = os.Remove(filepath.Join(dir, name)) // a key that is gone
		}
	}
	names := make([]string, 0, len(top))
	for n := range top {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		link := filepath.Join(dir, n)
		if t, err := os.Readlink(link); err == nil && t == filepath.Join(dataLink, n) {
			continue
		}
		_ = os.RemoveAll(link)
		if err := os.Symlink(filepath.Join(dataLink, n), link); err != nil {
			return false, err
		}
	}
	return true, nil
}

// samePayload reports whether dir holds exactly payload.
func samePayload(dir string, payload map[string]File) bool {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(dir, p)
		f, ok := payload[rel]
		if !ok {
			return fmt.Errorf("extra")
		}
		info, err := d.Info()
		if err != nil || info.Mode().Perm() != f.Mode.Perm() {
			return fmt.Errorf("mode")
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.Data) {
			return fmt.Errorf("data")
		}
		return nil
	})
	return err == nil && n == len(payload)
}

// validPath accepts relative paths without .. elements or a leading "..".
func validPath(p string) bool {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "..") {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "" {
			return false
		}
	}
	return true
}
