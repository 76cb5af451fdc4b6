package storage

import (
	"time"
)

// progressGap is the least time between two progress requests, so that
// many readers waiting at once share one.
const progressGap = 5 * time.Millisecond

// RequestProgress asks etcd, soon and without blocking, to report the
// revision every shared watch has reached. Shared watches turn the answer
// into progress events, which lets a follower of an idle prefix (the watch
// cache) learn that it is current up to etcd's latest revision. Requests
// made close together are sent once.
func (s *Store) RequestProgress() {
	select {
	case s.progressKick <- struct{}{}:
	default: // one is already pending
	}
}

// requestProgressEvery sends a progress request every interval (idle
// watchers get bookmarks from them) and whenever RequestProgress asks,
// until the store closes. One request serves every shared watch: they
// share one etcd stream, and etcd answers on all of them.
func (s *Store) requestProgressEvery(interval time.Duration) {
	ctx := sharedStreamContext(s.ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.progressKick:
		}
		_ = s.client.RequestProgress(ctx)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(progressGap):
		}
	}
}
