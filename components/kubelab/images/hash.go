package images

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// hashLen is how many hex digits of the SHA-256 a content tag keeps.
const hashLen = 16

// ContextHash returns the content hash of a build context: every file's
// relative path, type, permission bits and content (symlinks by target),
// plus the build args, in a stable order. Two contexts hash alike exactly
// when `docker build` would see the same inputs.
func ContextHash(dir string, buildArgs map[string]string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		fmt.Fprintf(h, "%s\x00%s\x00", filepath.ToSlash(rel), mode.Type()|mode.Perm()|(mode&fs.ModeSticky))
		switch {
		case mode.IsRegular():
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			fmt.Fprintf(h, "%d\x00", info.Size())
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00", target)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash build context %s: %w", dir, err)
	}
	hashArgs(h, buildArgs)
	return hex.EncodeToString(h.Sum(nil))[:hashLen], nil
}

// HashInputs hashes named strings and files (for cache keys of inputs that
// are not a build context: the node root filesystem, the tool binaries).
func HashInputs(values map[string]string, files ...string) (string, error) {
	h := sha256.New()
	hashArgs(h, values)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("hash inputs: %w", err)
		}
		fmt.Fprintf(h, "file\x00%s\x00%d\x00", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:hashLen], nil
}

func hashArgs(w io.Writer, args map[string]string) {
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "arg\x00%s\x00%s\x00", k, args[k])
	}
}
