package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubelab/kubelab/components/internal/atomicfile"
)

// lockTimeout bounds how long an edit waits for another writer's lock.
const lockTimeout = 10 * time.Second

// withLock runs fn while holding path's lock file, the "<path>.lock" that
// clientcmd (kubectl config ...) and kind create exclusively. fn receives the
// file to actually read and replace: path with symbolic links resolved, so a
// linked ~/.kube/config stays a link.
func withLock(path string, fn func(target string) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create kubeconfig directory: %w", err)
	}
	lockName := path + ".lock"
	deadline := time.Now().Add(lockTimeout)
	for {
		f, err := os.OpenFile(lockName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_ = f.Close()
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("lock kubeconfig: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kubeconfig %s is locked by %s; remove that file if no kubectl or kubelab is editing it", path, lockName)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer os.Remove(lockName)

	target := path
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		target = resolved
	}
	return fn(target)
}

// load reads the kubeconfig at path; a missing file is an empty config.
func load(path string) (*clientcmdapi.Config, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// save encodes cfg and atomically replaces path with it.
func save(path string, cfg *clientcmdapi.Config) error {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig %s: %w", path, err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// writeFileAtomic replaces path with data through a temporary file in the
// same directory and a rename, so readers see the old or the new file,
// never part of one. A new file gets mode 0600; an existing one keeps its
// mode.
func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o600)
	if info, err := os.Stat(path); err == nil {
		mode = info.Mode().Perm()
	}
	return atomicfile.Write(path, data, mode)
}
