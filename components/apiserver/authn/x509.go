package authn

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// NewX509 returns an Authenticator for TLS client certificates. The leaf
// certificate must chain to pool (through any intermediates the client
// sent) and allow client authentication; its common name becomes the user
// name and its organizations the groups. The TLS server only requests the
// certificate (tls.RequestClientCert), as upstream's does, and this check
// is the verification: an untrusted certificate is a 401.
func NewX509(pool *x509.CertPool) Authenticator {
	return &x509Authenticator{pool: pool}
}

type x509Authenticator struct {
	pool *x509.CertPool
}

var _ Authenticator = (*x509Authenticator)(nil)

func (a *x509Authenticator) Authenticate(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	opts := x509.VerifyOptions{
		Roots:         a.pool,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range r.TLS.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return nil, false, fmt.Errorf("verify client certificate %q: %w", leaf.Subject.CommonName, err)
	}
	if leaf.Subject.CommonName == "" {
		return nil, false, errors.New("client certificate has an empty common name")
	}
	return &User{
		Name:   leaf.Subject.CommonName,
		Groups: slices.Clone(leaf.Subject.Organization),
	}, true, nil
}
