package authn

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// NewX509 returns an Authenticator for TLS client certificates. The leaf
// certificate must chain to pool (through any intermediates the client
// sent) and allow client authentication; its common name becomes the user
// name and its organizations the groups. The TLS server only requests the
// certificate (tls.RequestClientCert), as upstream's does, and this check
// is the verification: an untrusted certificate is a 401.
func NewX509(pool *x509.CertPool) Authenticator {
	return &x509Authenticator{pool: pool, verified: map[[sha256.Size]byte]time.Time{}}
}

// maxVerifiedChains bounds the cache of verified certificate chains.
const maxVerifiedChains = 4096

type x509Authenticator struct {
	pool *x509.CertPool

	// verified caches chains already verified, keyed by the hash of every
	// certificate the client sent, until the earliest NotAfter among them:
	// verification costs more than the rest of a small request.
	mu       sync.Mutex
	verified map[[sha256.Size]byte]time.Time
}

var _ Authenticator = (*x509Authenticator)(nil)

func (a *x509Authenticator) Authenticate(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	if leaf.Subject.CommonName == "" {
		return nil, false, errors.New("client certificate has an empty common name")
	}
	user := &User{Name: leaf.Subject.CommonName, Groups: slices.Clone(leaf.Subject.Organization)}
	key := chainKey(r.TLS.PeerCertificates)
	now := time.Now()
	a.mu.Lock()
	until, ok := a.verified[key]
	a.mu.Unlock()
	if ok && now.Before(until) {
		return user, true, nil
	}
	opts := x509.VerifyOptions{
		Roots:         a.pool,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range r.TLS.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, false, fmt.Errorf("verify client certificate %q: %w", leaf.Subject.CommonName, err)
	}
	until = leaf.NotAfter
	for _, c := range chains[0] {
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	a.mu.Lock()
	if len(a.verified) >= maxVerifiedChains {
		clear(a.verified)
	}
	a.verified[key] = until
	a.mu.Unlock()
	return user, true, nil
}

func chainKey(certs []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	for _, c := range certs {
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}
