package kubeconfig

import (
	"errors"
	"io/fs"
	"os"
	"slices"
)

// Merge adds c to the kubeconfig at path, creating the file if needed:
// the cluster, user and context of c's names are replaced, every other entry
// is kept. With makeCurrent the current context becomes c.Context.
func Merge(path string, c Cluster, makeCurrent bool) error {
	if err := c.validate(); err != nil {
		return err
	}
	return withLock(path, func(target string) error {
		cfg, err := load(target)
		if err != nil {
			return err
		}
		addEntries(cfg, c)
		if makeCurrent {
			cfg.CurrentContext = c.Context
		}
		return save(target, cfg)
	})
}

// Remove deletes the context contextName from the kubeconfig at path together
// with the cluster and user entries it refers to, unless another context
// still uses them, and unsets current-context if it pointed there. When the
// context does not exist, a cluster and user named contextName are removed
// instead (kubelab names all three alike). A missing file, or one without
// these entries, is left alone.
func Remove(path, contextName string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return withLock(path, func(target string) error {
		cfg, err := load(target)
		if err != nil {
			return err
		}
		clusterName, userName := contextName, contextName
		if ctx, ok := cfg.Contexts[contextName]; ok {
			clusterName, userName = ctx.Cluster, ctx.AuthInfo
		}
		var clusters, users []string
		for name, ctx := range cfg.Contexts {
			if name != contextName {
				clusters = append(clusters, ctx.Cluster)
				users = append(users, ctx.AuthInfo)
			}
		}
		changed := deleteKey(cfg.Contexts, contextName)
		if !slices.Contains(clusters, clusterName) {
			changed = deleteKey(cfg.Clusters, clusterName) || changed
		}
		if !slices.Contains(users, userName) {
			changed = deleteKey(cfg.AuthInfos, userName) || changed
		}
		if cfg.CurrentContext == contextName {
			cfg.CurrentContext = ""
			changed = true
		}
		if !changed {
			return nil
		}
		return save(target, cfg)
	})
}

// deleteKey deletes key from m and reports whether it was there.
func deleteKey[V any](m map[string]V, key string) bool {
	_, ok := m[key]
	delete(m, key)
	return ok
}
