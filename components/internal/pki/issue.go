package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kubelab/kubelab/components/internal/atomicfile"
)

// LoadOrIssueServing returns the paths of dir/<name>.crt and dir/<name>.key,
// a serving certificate (ExtKeyUsageServerAuth, common name name, valid one
// year) for dnsNames and ips. An existing pair is reused only if it was signed
// by this CA, does not expire within RenewBefore, and covers every requested
// name and address; otherwise a new pair replaces it.
func (ca *CA) LoadOrIssueServing(dir, name string, dnsNames []string, ips []net.IP) (certFile, keyFile string, err error) {
	certFile, keyFile = leafPaths(dir, name)
	if ca.reusable(certFile, keyFile, x509.ExtKeyUsageServerAuth, func(c *x509.Certificate) bool {
		return coversSANs(c, dnsNames, ips)
	}) {
		return certFile, keyFile, nil
	}
	certPEM, keyPEM, err := ca.IssueServingPEM(name, dnsNames, ips)
	if err != nil {
		return "", "", err
	}
	if err := writePair(dir, certFile, keyFile, certPEM, keyPEM); err != nil {
		return "", "", fmt.Errorf("write serving certificate %s: %w", name, err)
	}
	return certFile, keyFile, nil
}

// LoadOrIssueClient returns the paths of dir/<name>.crt and dir/<name>.key,
// a client certificate (ExtKeyUsageClientAuth, valid one year) for the user
// commonName in the groups organizations. An existing pair is reused only if
// it was signed by this CA, does not expire within RenewBefore, and names the
// same user and the same groups; otherwise a new pair replaces it.
func (ca *CA) LoadOrIssueClient(dir, name, commonName string, organizations []string) (certFile, keyFile string, err error) {
	certFile, keyFile = leafPaths(dir, name)
	if ca.reusable(certFile, keyFile, x509.ExtKeyUsageClientAuth, func(c *x509.Certificate) bool {
		return c.Subject.CommonName == commonName && sameSet(c.Subject.Organization, organizations)
	}) {
		return certFile, keyFile, nil
	}
	certPEM, keyPEM, err := ca.IssueClientPEM(commonName, organizations)
	if err != nil {
		return "", "", err
	}
	if err := writePair(dir, certFile, keyFile, certPEM, keyPEM); err != nil {
		return "", "", fmt.Errorf("write client certificate %s: %w", name, err)
	}
	return certFile, keyFile, nil
}

// IssueServingPEM issues a serving certificate (ExtKeyUsageServerAuth, valid
// one year) for dnsNames and ips with a new key, and returns both as PEM
// without touching the disk.
func (ca *CA) IssueServingPEM(commonName string, dnsNames []string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	certPEM, keyPEM, err = ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		DNSNames:    slices.Clone(dnsNames),
		IPAddresses: slices.Clone(ips),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("issue serving certificate %s: %w", commonName, err)
	}
	return certPEM, keyPEM, nil
}

// IssueClientPEM issues a client certificate (ExtKeyUsageClientAuth, valid
// one year) for the user commonName in the groups organizations with a new
// key, and returns both as PEM without touching the disk.
func (ca *CA) IssueClientPEM(commonName string, organizations []string) (certPEM, keyPEM []byte, err error) {
	certPEM, keyPEM, err = ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName, Organization: slices.Clone(organizations)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("issue client certificate %s: %w", commonName, err)
	}
	return certPEM, keyPEM, nil
}

// issue completes tmpl (serial, validity, key usage), signs it with a new
// key and returns certificate and key as PEM.
func (ca *CA) issue(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	notAfter := now.Add(LeafValidity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-backdate).UTC()
	tmpl.NotAfter = notAfter.UTC()
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true

	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate: %w", err)
	}
	keyPEM, err = EncodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return EncodeCert(&x509.Certificate{Raw: der}), keyPEM, nil
}

// reusable reports whether the pair at certFile/keyFile may be kept: both
// parse, the key matches, the certificate was signed by ca for usage, is
// valid for at least RenewBefore, and satisfies match.
func (ca *CA) reusable(certFile, keyFile string, usage x509.ExtKeyUsage, match func(*x509.Certificate) bool) bool {
	cert, _, err := readCert(certFile)
	if err != nil {
		return false
	}
	key, err := readKey(keyFile)
	if err != nil || !publicKeysEqual(cert.PublicKey, key.Public()) {
		return false
	}
	if !bytes.Equal(cert.RawIssuer, ca.Cert.RawSubject) || cert.CheckSignatureFrom(ca.Cert) != nil {
		return false
	}
	now := time.Now()
	if now.Before(cert.NotBefore) || now.Add(RenewBefore).After(cert.NotAfter) {
		return false
	}
	return slices.Contains(cert.ExtKeyUsage, usage) && match(cert)
}

// coversSANs reports whether cert names every one of dnsNames and ips.
func coversSANs(cert *x509.Certificate, dnsNames []string, ips []net.IP) bool {
	for _, name := range dnsNames {
		if !slices.Contains(cert.DNSNames, name) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// sameSet reports whether a and b hold the same strings, ignoring order and
// repetition.
func sameSet(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	for _, s := range b {
		if !slices.Contains(a, s) {
			return false
		}
	}
	return true
}

func leafPaths(dir, name string) (certFile, keyFile string) {
	return filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
}

// writePair writes the key (mode 0600) and then the certificate (0644), each
// atomically, creating dir with mode 0700 if needed.
func writePair(dir, certFile, keyFile string, certPEM, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := atomicfile.Write(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return atomicfile.Write(certFile, certPEM, 0o644)
}
