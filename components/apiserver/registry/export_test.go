package registry

import (
	"context"

	"github.com/kubelab/kubelab/components/apiserver/storage"
)

// StartWatchCacheFrom is StartWatchCache with the event source replaced,
// so that tests can break the watch the cache follows.
func (s *Store) StartWatchCacheFrom(ctx context.Context, source func(ctx context.Context, prefix string, fromRev int64) (<-chan *storage.Event, error)) {
	s.startWatchCache(ctx, source)
}

// ProtobufListLayout exposes hasProtobufListLayout.
func ProtobufListLayout(res *Resource) bool { return hasProtobufListLayout(res) }
