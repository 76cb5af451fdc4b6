package authn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kubelab/kubelab/components/internal/pki"
)

// whoami answers with "<name> <groups>" for the authenticated user, with
// 401 for invalid credentials, and "anonymous" without credentials.
func whoami(a Authenticator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok, err := a.Authenticate(r)
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusUnauthorized)
		case !ok:
			fmt.Fprint(w, "anonymous")
		default:
			fmt.Fprintf(w, "%s %s", u.Name, strings.Join(u.Groups, ","))
		}
	})
}

func TestX509OverTLS(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "kubelab-ca")
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := pki.LoadOrCreateCA(t.TempDir(), "kubelab-ca") // same name, different key
	if err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	servingCert, servingKey, err := ca.LoadOrIssueServing(certDir, "apiserver", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	serving, err := tls.LoadX509KeyPair(servingCert, servingKey)
	if err != nil {
		t.Fatal(err)
	}
	adminCert, adminKey, err := ca.LoadOrIssueClient(certDir, "admin", "kubernetes-admin", []string{GroupMasters})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := tls.LoadX509KeyPair(adminCert, adminKey)
	if err != nil {
		t.Fatal(err)
	}
	intruder := keyPair(t, otherCA.IssueClientPEM)
	servingAsClient := keyPair(t, func(cn string, _ []string) ([]byte, []byte, error) {
		return ca.IssueServingPEM(cn, []string{"localhost"}, nil)
	})
	tokens, err := NewTokenFile(writeTokenFile(t, "secret,alice,uid-1,devs\n"))
	if err != nil {
		t.Fatal(err)
	}
	auth := Union(NewX509(ca.Pool()), tokens)

	servers := map[tls.ClientAuthType]*httptest.Server{}
	for _, mode := range []tls.ClientAuthType{tls.VerifyClientCertIfGiven, tls.RequestClientCert} {
		srv := httptest.NewUnstartedServer(whoami(auth))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, ClientAuth: mode, ClientCAs: ca.Pool()}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		servers[mode] = srv
	}

	tests := []struct {
		name          string
		mode          tls.ClientAuthType
		cert          *tls.Certificate
		token         string
		wantStatus    int
		wantBody      string
		wantHandshake bool // the TLS server itself rejects the client
	}{
		{name: "admin certificate", mode: tls.VerifyClientCertIfGiven, cert: &admin, wantStatus: 200,
			wantBody: "kubernetes-admin system:masters,system:authenticated"},
		{name: "no certificate", mode: tls.VerifyClientCertIfGiven, wantStatus: 200, wantBody: "anonymous"},
		{name: "token", mode: tls.VerifyClientCertIfGiven, token: "secret", wantStatus: 200,
			wantBody: "alice devs,system:authenticated"},
		{name: "certificate before token", mode: tls.VerifyClientCertIfGiven, cert: &admin, token: "secret", wantStatus: 200,
			wantBody: "kubernetes-admin system:masters,system:authenticated"},
		{name: "bad token", mode: tls.VerifyClientCertIfGiven, token: "wrong", wantStatus: 401},
		{name: "other CA rejected by TLS", mode: tls.VerifyClientCertIfGiven, cert: &intruder, wantHandshake: true},
		{name: "other CA rejected by authenticator", mode: tls.RequestClientCert, cert: &intruder, wantStatus: 401},
		{name: "serving certificate is no client certificate", mode: tls.RequestClientCert, cert: &servingAsClient, wantStatus: 401},
		{name: "admin on lax server", mode: tls.RequestClientCert, cert: &admin, wantStatus: 200,
			wantBody: "kubernetes-admin system:masters,system:authenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientTLS := &tls.Config{RootCAs: ca.Pool()}
			if tt.cert != nil {
				clientTLS.Certificates = []tls.Certificate{*tt.cert}
			}
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}, Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()

			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, servers[tt.mode].URL+"/api", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := client.Do(req)
			if tt.wantHandshake {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("request succeeded with status %d, want a TLS error", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
		})
	}
}

func TestX509Intermediates(t *testing.T) {
	root, err := pki.LoadOrCreateCA(t.TempDir(), "root")
	if err != nil {
		t.Fatal(err)
	}
	inter := intermediateCA(t, root)
	leaf := leafCert(t, inter.IssueClientPEM)
	direct := leafCert(t, root.IssueClientPEM)

	tests := []struct {
		name    string
		chain   []*x509.Certificate
		wantOK  bool
		wantErr bool
	}{
		{name: "no TLS"},
		{name: "no certificates", chain: []*x509.Certificate{}},
		{name: "signed by root", chain: []*x509.Certificate{direct}, wantOK: true},
		{name: "with intermediate", chain: []*x509.Certificate{leaf, inter.Cert}, wantOK: true},
		{name: "intermediate missing", chain: []*x509.Certificate{leaf}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			if tt.chain != nil {
				r.TLS = &tls.ConnectionState{PeerCertificates: tt.chain}
			}
			u, ok, err := NewX509(root.Pool()).Authenticate(r)
			if ok != tt.wantOK || (err != nil) != tt.wantErr {
				t.Fatalf("ok=%v err=%v, want ok=%v error=%v", ok, err, tt.wantOK, tt.wantErr)
			}
			if ok && (u.Name != "bob" || len(u.Groups) != 1 || u.Groups[0] != "devs") {
				t.Errorf("user %+v", u)
			}
		})
	}
}

type issueFunc func(commonName string, organizations []string) ([]byte, []byte, error)

func keyPair(t *testing.T, issue issueFunc) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := issue("bob", []string{"devs"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func leafCert(t *testing.T, issue issueFunc) *x509.Certificate {
	t.Helper()
	return keyPair(t, issue).Leaf
}

// intermediateCA returns a CA signed by root.
func intermediateCA(t *testing.T, root *pki.CA) *pki.CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(42),
		Subject:               pkix.Name{CommonName: "intermediate"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Cert, key.Public(), root.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pki.CA{Cert: cert, Key: key, CertPEM: pki.EncodeCert(cert)}
}
