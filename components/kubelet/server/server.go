// Package server is the kubelet's HTTPS API, which the API server reaches
// for pods/log, pods/exec, pods/attach and pods/portforward: container
// logs read from the CRI log files, and exec, attach and port-forward
// streams proxied to the container runtime's streaming server.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	internalapi "k8s.io/cri-api/pkg/apis"

	"github.com/kubelab/kubelab/components/internal/pki"
	"github.com/kubelab/kubelab/components/kubelet/podruntime"
)

// Pods finds the pods the node runs.
type Pods interface {
	ByName(namespace, name string) (*corev1.Pod, bool)
}

// State reads a pod's runtime state.
type State interface {
	Pod(ctx context.Context, uid types.UID) (*podruntime.PodState, error)
}

// Config configures the server.
type Config struct {
	// Addr is the listen address (":10250").
	Addr string
	// CertFile and KeyFile are the serving certificate (signed by the
	// cluster CA); without them a self-signed one is made in PKIDir.
	CertFile, KeyFile string
	PKIDir            string
	// ClientCAFile verifies client certificates (the API server's kubelet
	// client certificate); without it clients are not authenticated.
	ClientCAFile string
	// NodeName and NodeIP go into a self-signed certificate.
	NodeName string
	NodeIP   net.IP
	Pods     Pods
	State    State
	Runtime  internalapi.RuntimeService
}

// Server is the kubelet's API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	ln      net.Listener
	tls     *tls.Config
}

// New returns the server.
func New(cfg Config) *Server {
	if cfg.Addr == "" {
		cfg.Addr = ":10250"
	}
	s := &Server{cfg: cfg, log: slog.Default().With("component", "kubelet-server")}
	s.handler = s.routes()
	return s
}

// Handler is the server's HTTP handler (without TLS client checks).
func (s *Server) Handler() http.Handler { return s.handler }

// Listen loads the certificates and binds the address, so a port in use
// or a bad certificate fails before Run.
func (s *Server) Listen() error {
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln, s.tls = ln, tlsCfg
	return nil
}

// Run serves until ctx ends, calling Listen first if needed.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	ln, tlsCfg := s.ln, s.tls
	srv := &http.Server{
		Handler:           s.authenticate(s.handler),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 30 * time.Second,
		// Upgraded streams need HTTP/1.1.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	s.log.Info("kubelet API serving", "addr", ln.Addr().String(), "clientAuth", s.cfg.ClientCAFile != "")
	if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tlsConfig loads (or makes) the serving certificate and the client CA.
func (s *Server) tlsConfig() (*tls.Config, error) {
	certFile, keyFile := s.cfg.CertFile, s.cfg.KeyFile
	if certFile == "" {
		dir := s.cfg.PKIDir
		ca, err := pki.LoadOrCreateCA(dir, s.cfg.NodeName+"-ca@kubelet")
		if err != nil {
			return nil, fmt.Errorf("kubelet serving CA: %w", err)
		}
		var ips []net.IP
		if s.cfg.NodeIP != nil {
			ips = append(ips, s.cfg.NodeIP)
		}
		if certFile, keyFile, err = ca.LoadOrIssueServing(dir, "kubelet", []string{s.cfg.NodeName}, ips); err != nil {
			return nil, fmt.Errorf("kubelet serving certificate: %w", err)
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load serving certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if s.cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(s.cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s holds no certificate", s.cfg.ClientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// authenticate lets through clients with a verified certificate (any
// client when no client CA is configured) and everyone to /healthz.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.ClientCAFile != "" && r.URL.Path != "/healthz" &&
			(r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// DefaultPKIDir is where a self-signed serving certificate is kept.
func DefaultPKIDir(rootDir string) string { return filepath.Join(rootDir, "pki") }
