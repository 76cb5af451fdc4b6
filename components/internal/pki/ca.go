// Package pki creates and loads the certificate authority of a kubelab
// cluster and issues the serving and client certificates its components and
// users present to each other.
//
// Everything is ECDSA P-256 and PEM on disk: a CA lives in <dir>/ca.crt and
// <dir>/ca.key, a leaf named n in <dir>/n.crt and <dir>/n.key. Private keys
// are written with mode 0600, and every file is replaced atomically so a
// component starting concurrently never reads half a file.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kubelab/kubelab/components/internal/atomicfile"
)

const (
	// CACertFile is the file name of the CA certificate inside its directory.
	CACertFile = "ca.crt"
	// CAKeyFile is the file name of the CA private key inside its directory.
	CAKeyFile = "ca.key"

	// CAValidity is how long a newly created CA is valid.
	CAValidity = 10 * 365 * 24 * time.Hour
	// LeafValidity is how long an issued serving or client certificate is valid.
	LeafValidity = 365 * 24 * time.Hour
	// RenewBefore is how close to expiry an existing leaf may be and still be
	// reused; closer than this it is issued again.
	RenewBefore = 30 * 24 * time.Hour

	// backdate moves NotBefore into the past so that nodes whose clocks lag
	// the host slightly still accept a certificate issued a moment ago.
	backdate = 5 * time.Minute
	// loadWait bounds how long LoadOrCreateCA waits for a concurrent creator
	// to finish writing ca.crt after it has written ca.key.
	loadWait = 5 * time.Second
)

// CA is a certificate authority: its certificate, its private key and the
// certificate's PEM encoding (for kubeconfigs and --client-ca-file).
type CA struct {
	// Cert is the parsed CA certificate.
	Cert *x509.Certificate
	// Key is the CA's private key.
	Key crypto.Signer
	// CertPEM is Cert encoded as PEM.
	CertPEM []byte
}

// LoadOrCreateCA returns the CA stored in dir/ca.crt and dir/ca.key, creating
// a self-signed one named commonName (ECDSA P-256, valid ten years) when
// neither file exists. dir is created with mode 0700. A directory holding only
// one of the two files is an error: replacing half a CA would silently break
// every certificate it has issued.
func LoadOrCreateCA(dir, commonName string) (*CA, error) {
	certPath := filepath.Join(dir, CACertFile)
	keyPath := filepath.Join(dir, CAKeyFile)

	ca, err := loadCA(certPath, keyPath)
	if err == nil {
		return ca, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if exists(certPath) && !exists(keyPath) {
		return nil, err // half a CA: never replace a certificate others trust
	}
	if st, serr := os.Stat(keyPath); serr == nil {
		if time.Since(st.ModTime()) > loadWait {
			return nil, err // a key left without its certificate: half a CA
		}
		// Another process is creating the CA: it published the key and is
		// about to write the certificate.
		return waitForCA(certPath, keyPath)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA directory: %w", err)
	}
	ca, err = newCA(commonName)
	if err != nil {
		return nil, fmt.Errorf("create CA %q: %w", commonName, err)
	}
	keyPEM, err := EncodeKey(ca.Key)
	if err != nil {
		return nil, fmt.Errorf("create CA %q: %w", commonName, err)
	}
	// The key is published first and without overwriting: the process that
	// wins the link owns the CA; a loser waits for the winner's certificate.
	created, err := atomicfile.Create(keyPath, keyPEM, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write CA key: %w", err)
	}
	if !created {
		return waitForCA(certPath, keyPath)
	}
	if err := atomicfile.Write(certPath, ca.CertPEM, 0o644); err != nil {
		return nil, fmt.Errorf("write CA certificate: %w", err)
	}
	return ca, nil
}

// Pool returns a certificate pool holding only this CA, for use as RootCAs
// or ClientCAs and for the x509 authenticator.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// KeyPEM returns the CA's private key encoded as PEM, for components that
// sign certificates themselves (the controller-manager's CSR signer).
func (ca *CA) KeyPEM() ([]byte, error) {
	return EncodeKey(ca.Key)
}

// NewCA creates a self-signed CA named commonName (ECDSA P-256, valid ten
// years) in memory only, for callers that store it elsewhere: a lab
// cluster's CA lives in its nodes, not on the host.
func NewCA(commonName string) (*CA, error) {
	ca, err := newCA(commonName)
	if err != nil {
		return nil, fmt.Errorf("create CA %q: %w", commonName, err)
	}
	return ca, nil
}

func newCA(commonName string) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              now.Add(CAValidity).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: EncodeCert(cert)}, nil
}

// loadCA reads a CA from disk. Its error wraps fs.ErrNotExist when a file is
// missing.
func loadCA(certPath, keyPath string) (*CA, error) {
	cert, certPEM, err := readCert(certPath)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("load CA: %s is not a CA certificate", certPath)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("load CA: key %s does not match certificate %s", keyPath, certPath)
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM}, nil
}

// waitForCA loads a CA another process is creating right now.
func waitForCA(certPath, keyPath string) (*CA, error) {
	deadline := time.Now().Add(loadWait)
	for {
		ca, err := loadCA(certPath, keyPath)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			return ca, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ECDSA P-256 key: %w", err)
	}
	return key, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
