package server

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/version"

	"github.com/kubelab/kubelab/components/apiserver/authn"
	"github.com/kubelab/kubelab/components/apiserver/authz"
)

// Defaults applied by New to zero fields of Config. The numbers are
// kube-apiserver's flag defaults.
const (
	DefaultBindAddress                 = "0.0.0.0:6443"
	DefaultMaxRequestsInFlight         = 400
	DefaultMaxMutatingRequestsInFlight = 200
	DefaultMaxRequestBodyBytes         = 3 << 20 // 3 MiB
	DefaultRequestTimeout              = 60 * time.Second
	DefaultShutdownTimeout             = 60 * time.Second
)

// Config configures a Server. Authenticator, Authorizer and API are
// required; every other zero field takes its default.
type Config struct {
	// BindAddress is the host:port to listen on, e.g. "127.0.0.1:6443";
	// port 0 picks a free port (see Server.Addr). Default 0.0.0.0:6443.
	BindAddress string
	// CertFile and KeyFile hold the PEM serving certificate and key. They
	// are needed by Listen and Serve, not by Handler.
	CertFile, KeyFile string
	// ClientCA verifies client certificates, which are optional
	// (tls.RequestClientCert; the Authenticator verifies them). Nil
	// disables client certificates.
	ClientCA *x509.CertPool

	// Authenticator identifies the user of a request.
	Authenticator authn.Authenticator
	// Authorizer decides whether the user may make the request.
	Authorizer authz.Authorizer

	// MaxRequestsInFlight caps concurrent read-only requests (and other
	// non-mutating, non-long-running ones). 0 means 400; negative, no limit.
	MaxRequestsInFlight int
	// MaxMutatingRequestsInFlight caps concurrent create, update, patch,
	// delete and deletecollection requests. 0 means 200; negative, no limit.
	MaxMutatingRequestsInFlight int
	// MaxRequestBodyBytes caps request bodies. 0 means 3 MiB; negative, no
	// limit.
	MaxRequestBodyBytes int64
	// RequestTimeout bounds every request that is not long-running (watch,
	// exec, attach, port-forward, log, proxy). A shorter ?timeout= in the
	// URL wins. Default 60s.
	RequestTimeout time.Duration

	// API serves everything this package does not: the REST API,
	// discovery and OpenAPI. Long-running handlers (watches) must return
	// when the request context is done; that is how shutdown ends them.
	API http.Handler
	// ReadyChecks are run by /readyz and /healthz and served individually
	// as /readyz/<name>, e.g. "etcd".
	ReadyChecks map[string]func(context.Context) error
	// ShutdownTimeout bounds graceful shutdown. Default 60s.
	ShutdownTimeout time.Duration
	// Version is served at /version.
	Version version.Info
	// Registry receives the server's metrics and is served at /metrics.
	// Nil means a new registry that also holds the Go and process
	// collectors.
	Registry *prometheus.Registry
	// Logger receives the access log (Debug; Warn for 5xx), panics and
	// lifecycle messages. Nil means slog.Default().
	Logger *slog.Logger
}

// complete validates c and returns a copy with defaults filled in.
func (c Config) complete() (Config, error) {
	var errs []error
	if c.Authenticator == nil {
		errs = append(errs, errors.New("an Authenticator is required"))
	}
	if c.Authorizer == nil {
		errs = append(errs, errors.New("an Authorizer is required"))
	}
	if c.API == nil {
		errs = append(errs, errors.New("an API handler is required"))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("CertFile and KeyFile must be set together"))
	}
	for name, check := range c.ReadyChecks {
		if name == "" || check == nil {
			errs = append(errs, errors.New("ready checks need a name and a function"))
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if c.BindAddress == "" {
		c.BindAddress = DefaultBindAddress
	}
	if c.MaxRequestsInFlight == 0 {
		c.MaxRequestsInFlight = DefaultMaxRequestsInFlight
	}
	if c.MaxMutatingRequestsInFlight == 0 {
		c.MaxMutatingRequestsInFlight = DefaultMaxMutatingRequestsInFlight
	}
	if c.MaxRequestBodyBytes == 0 {
		c.MaxRequestBodyBytes = DefaultMaxRequestBodyBytes
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}
