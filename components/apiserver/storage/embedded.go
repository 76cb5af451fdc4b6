package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
)

// Embedded is an etcd server running inside this process.
type Embedded struct {
	etcd   *embed.Etcd
	lock   *fileutil.LockedFile
	Client *clientv3.Client
}

// EmbeddedOptions configures an embedded etcd.
type EmbeddedOptions struct {
	// Dir holds etcd's data (its member directory).
	Dir string
	// UnsafeNoFsync trades durability for speed; tests only.
	UnsafeNoFsync bool
}

// StartEmbedded starts a single-member etcd in o.Dir, listening only on
// unix sockets in that directory, and returns an in-process client to it.
// A data directory serves one etcd at a time: while it is in use, another
// StartEmbedded on it fails at once.
func StartEmbedded(ctx context.Context, o EmbeddedOptions) (_ *Embedded, err error) {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create etcd data dir: %w", err)
	}
	// etcd waits forever for its own file locks, after replacing the unix
	// sockets of the etcd already serving; fail first instead.
	lock, err := fileutil.TryLockFile(filepath.Join(o.Dir, "kubelab.lock"), os.O_WRONLY|os.O_CREATE, 0o600)
	if errors.Is(err, fileutil.ErrLocked) {
		return nil, fmt.Errorf("etcd data directory %s is in use by another process (is another kubelab or API server running on it?)", o.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("lock etcd data dir: %w", err)
	}
	defer func() {
		if err != nil {
			_ = lock.Close()
		}
	}()
	cfg := embed.NewConfig()
	cfg.Dir = o.Dir
	cfg.Name = "kubelab"
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.UnsafeNoFsync = o.UnsafeNoFsync
	cfg.QuotaBackendBytes = 8 << 30
	cfg.MaxRequestBytes = 4 << 20
	cfg.SnapshotCount = 10000
	// Unix sockets inside the data directory: only this user can reach etcd,
	// and two servers never race for a port.
	peer := url.URL{Scheme: "unix", Path: filepath.Join(cfg.Dir, "peer.sock")}
	client := url.URL{Scheme: "unix", Path: filepath.Join(cfg.Dir, "client.sock")}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", o.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("embedded etcd did not become ready within 60s")
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Embedded{etcd: e, lock: lock, Client: v3client.New(e.Server)}, nil
}

// Close stops etcd after in-flight requests finish and frees its data
// directory.
func (e *Embedded) Close() {
	_ = e.Client.Close()
	e.etcd.Close()
	_ = e.lock.Close()
}
