// Package storage keeps API objects in etcd: byte values under keys, each
// write guarded by the key's mod revision, reads at a revision, and watches
// fanned out from one etcd watch per key prefix. It knows nothing about API
// types; the registry encodes and decodes.
package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	// ErrNotFound is returned when a key does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists is returned by Create when the key already exists.
	ErrExists = errors.New("already exists")
	// ErrConflict is returned when a key's mod revision is not the expected one.
	ErrConflict = errors.New("revision conflict")
	// ErrCompacted is returned when a read or watch asks for a compacted revision.
	ErrCompacted = errors.New("revision compacted")
	// ErrFutureRevision is returned when a read asks for a revision not yet written.
	ErrFutureRevision = errors.New("revision in the future")
)

// KV is one stored value with its revisions.
type KV struct {
	Key         string
	Value       []byte
	ModRevision int64
}

// Store reads and writes keys in etcd.
type Store struct {
	client *clientv3.Client

	// ctx ends the shared watches on Close.
	ctx    context.Context
	cancel context.CancelFunc

	mu   sync.Mutex
	hubs map[string]*hub
	// progressKick asks for a progress request (RequestProgress).
	progressKick chan struct{}
}

// New returns a Store over client.
func New(client *clientv3.Client) *Store {
	ctx, cancel := context.WithCancel(context.Background())
	return &Store{client: client, hubs: map[string]*hub{}, ctx: ctx, cancel: cancel, progressKick: make(chan struct{}, 1)}
}

// Close stops the shared watches; call it before closing the client.
func (s *Store) Close() { s.cancel() }

// Client returns the etcd client, for health checks.
func (s *Store) Client() *clientv3.Client { return s.client }

// Get returns the value at key, at the latest revision.
func (s *Store) Get(ctx context.Context, key string) (KV, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return KV{}, mapErr(err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, ErrNotFound
	}
	kv := resp.Kvs[0]
	return KV{Key: key, Value: kv.Value, ModRevision: kv.ModRevision}, nil
}

// Create writes value at key if the key does not exist and returns the new revision.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value))).
		Commit()
	if err != nil {
		return 0, mapErr(err)
	}
	if !resp.Succeeded {
		return 0, ErrExists
	}
	return resp.Header.Revision, nil
}

// Update replaces the value at key if its mod revision is still expected.
// It returns ErrNotFound if the key is gone and ErrConflict with the current
// value if it changed.
func (s *Store) Update(ctx context.Context, key string, value []byte, expected int64) (int64, error) {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", expected)).
		Then(clientv3.OpPut(key, string(value))).
		Else(clientv3.OpGet(key, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return 0, mapErr(err)
	}
	if !resp.Succeeded {
		if len(resp.Responses) == 0 || len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return 0, ErrNotFound
		}
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// Delete removes key if its mod revision is still expected (0: any).
func (s *Store) Delete(ctx context.Context, key string, expected int64) (int64, error) {
	txn := s.client.Txn(ctx)
	if expected != 0 {
		txn = txn.If(clientv3.Compare(clientv3.ModRevision(key), "=", expected))
	} else {
		txn = txn.If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0))
	}
	resp, err := txn.Then(clientv3.OpDelete(key)).Else(clientv3.OpGet(key, clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return 0, mapErr(err)
	}
	if !resp.Succeeded {
		if len(resp.Responses) == 0 || len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return 0, ErrNotFound
		}
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// ListOptions selects a page of keys under a prefix.
type ListOptions struct {
	// StartKey continues a paged list after a previous page (inclusive).
	StartKey string
	// Limit caps the number of keys (0: no limit).
	Limit int64
	// Revision reads at that revision (0: latest).
	Revision int64
}

// ListResult is one page of a list.
type ListResult struct {
	KVs []KV
	// Revision the list was read at.
	Revision int64
	// More is true when keys remain after the page; NextKey starts the next one.
	More    bool
	NextKey string
	// Remaining counts the keys after this page, when More.
	Remaining int64
}

// List returns the keys under prefix in key order.
func (s *Store) List(ctx context.Context, prefix string, o ListOptions) (ListResult, error) {
	start := prefix
	if o.StartKey != "" {
		start = o.StartKey
	}
	opts := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix))}
	if o.Limit > 0 {
		opts = append(opts, clientv3.WithLimit(o.Limit))
	}
	if o.Revision > 0 {
		opts = append(opts, clientv3.WithRev(o.Revision))
	}
	resp, err := s.client.Get(ctx, start, opts...)
	if err != nil {
		return ListResult{}, mapErr(err)
	}
	res := ListResult{KVs: make([]KV, 0, len(resp.Kvs)), Revision: resp.Header.Revision}
	if o.Revision > 0 {
		res.Revision = o.Revision
	}
	for _, kv := range resp.Kvs {
		res.KVs = append(res.KVs, KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision})
	}
	if resp.More && len(resp.Kvs) > 0 {
		res.More = true
		res.NextKey = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		res.Remaining = resp.Count - int64(len(resp.Kvs))
	}
	return res, nil
}

// Count returns the number of keys under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, mapErr(err)
	}
	return resp.Count, nil
}

// CurrentRevision returns etcd's latest revision.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, "/registry/health-revision", clientv3.WithCountOnly())
	if err != nil {
		return 0, mapErr(err)
	}
	return resp.Header.Revision, nil
}

// Compact discards history before rev.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	_, err := s.client.Compact(ctx, rev, clientv3.WithCompactPhysical())
	if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("compact etcd to revision %d: %w", rev, err)
	}
	return nil
}

func mapErr(err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return ErrCompacted
	case errors.Is(err, rpctypes.ErrFutureRev):
		return ErrFutureRevision
	}
	return fmt.Errorf("etcd: %w", err)
}
