// Package server is kubelab's HTTPS front door: it listens with TLS
// (1.2 or newer, HTTP/2 enabled), runs every request through the filter
// chain of kube-apiserver, serves the endpoints that belong to the server
// itself (/healthz, /livez, /readyz, /version, /metrics) and hands the rest
// to the REST API handler. It shuts down gracefully.
//
// The chain, outermost first:
//
//	panic recovery        500 Status; the panic and its stack are logged
//	request info          endpoints.ParseRequestInfo, stored in the context
//	metrics, access log   apiserver_request_total and friends; slog
//	authentication        401 Unauthorized; health and version are public
//	max in flight         429 TooManyRequests, Retry-After: 1
//	authorization         403 Forbidden with upstream's message
//	request body size     413 RequestEntityTooLarge
//	timeout               504 Timeout (not for watches and other long-running requests)
//	routes                this package's endpoints, else Config.API
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server is a kube-apiserver's HTTPS server. Create it with New, then call
// Listen (optional) and Serve.
type Server struct {
	cfg     Config
	log     *slog.Logger
	tls     *tls.Config // nil without a serving certificate
	metrics *metrics
	handler http.Handler
	// metricsHTTP serves /metrics.
	metricsHTTP http.Handler

	// health holds the /healthz, /livez and /readyz endpoints.
	health map[string]*healthEndpoint

	// requests counts in-flight requests that are not long-running, so
	// shutdown can wait for them before it ends watches.
	requests requestTracker
	// conns follows connection states, for shutdown.
	conns connTracker
	// stopping is cancelled when shutdown ends long-running requests.
	stopping    context.Context
	endLongRuns context.CancelFunc
	// shuttingDown fails /readyz from the moment shutdown begins.
	shuttingDown atomic.Bool

	mu       sync.Mutex
	listener net.Listener
	served   bool
}

// New checks c, fills in defaults, loads the serving certificate (if any)
// and builds the filter chain.
func New(c Config) (*Server, error) {
	cfg, err := c.complete()
	if err != nil {
		return nil, fmt.Errorf("api server config: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.stopping, s.endLongRuns = context.WithCancel(context.Background())
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load serving certificate %s: %w", cfg.CertFile, err)
		}
		s.tls = &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"h2", "http/1.1"},
		}
		if cfg.ClientCA != nil {
			// As upstream: ask for a certificate but let the authenticator
			// verify it, so that an untrusted one is a 401, not a failed
			// handshake.
			s.tls.ClientAuth = tls.RequestClientCert
			s.tls.ClientCAs = cfg.ClientCA
		}
	}
	if s.metrics, err = newMetrics(cfg.Registry); err != nil {
		return nil, err
	}
	s.metricsHTTP = s.metricsHandler()
	s.health = s.healthEndpoints()
	s.handler = s.buildChain()
	return s, nil
}

// Handler returns the complete filter chain with every endpoint behind it,
// for tests and for callers that bring their own listener.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds the configured address. Serve calls it when it has not been
// called; calling it first lets the caller learn the port (Addr) or report
// a bind error before anything else starts.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return fmt.Errorf("listen on %s: already listening on %s", s.cfg.BindAddress, s.listener.Addr())
	}
	if s.tls == nil {
		return fmt.Errorf("listen on %s: no serving certificate (CertFile, KeyFile)", s.cfg.BindAddress)
	}
	l, err := net.Listen("tcp", s.cfg.BindAddress)
	if err != nil {
		return &listenError{addr: s.cfg.BindAddress, err: err}
	}
	s.listener = l
	return nil
}

// listenError explains a failed bind, and says so plainly when the port is
// taken. It unwraps to the underlying error (syscall.EADDRINUSE).
type listenError struct {
	addr string
	err  error
}

func (e *listenError) Error() string {
	if errors.Is(e.err, syscall.EADDRINUSE) {
		return fmt.Sprintf("listen on %s: address already in use (is another API server running?)", e.addr)
	}
	return fmt.Sprintf("listen on %s: %v", e.addr, e.err)
}

func (e *listenError) Unwrap() error { return e.err }

// Addr returns the address the server listens on, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// Serve serves HTTPS until ctx is done, then shuts down gracefully: /readyz
// starts failing, the listener closes, in-flight requests that are not
// long-running may finish (within ShutdownTimeout), and then watches and
// other long-running requests are ended by cancelling their contexts. It
// returns nil after a clean shutdown. A Server serves once.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	served := s.served
	s.served = true
	listening := s.listener != nil
	s.mu.Unlock()
	if served {
		return errors.New("serve: the server has already served")
	}
	if !listening {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	l := s.listener
	srv := &http.Server{
		Handler:   s.handler,
		TLSConfig: s.tls,
		// Request contexts keep ctx's values but not its cancellation:
		// shutdown decides when requests end.
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ReadHeaderTimeout: 32 * time.Second, // as upstream, against slowloris
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    1 << 20,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 250},
		ErrorLog:          log.New(serverErrorLog{s.log}, "", 0),
		ConnState:         s.conns.track,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(l, "", "") }()
	s.log.Info("serving securely", "addr", l.Addr().String())

	select {
	case err := <-serveErr:
		s.endLongRuns()
		return fmt.Errorf("serve on %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	return s.shutdown(srv, serveErr)
}

// shutdown stops srv as Serve describes.
func (s *Server) shutdown(srv *http.Server, served <-chan error) error {
	s.shuttingDown.Store(true)
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()

	closed := make(chan error, 1)
	go func() { closed <- srv.Shutdown(ctx) }() // closes the listener, then waits for idle connections
	drainErr := s.requests.wait(ctx)
	running := s.requests.count()
	s.endLongRuns()
	err := s.awaitShutdown(closed)
	if err != nil {
		_ = srv.Close() // cut the connections still open
	}
	if serveErr := <-served; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	if drainErr != nil {
		return fmt.Errorf("shut down: %d requests still running after %s: %w", running, s.cfg.ShutdownTimeout, drainErr)
	}
	if err != nil {
		return fmt.Errorf("shut down: connections still open after %s: %w", s.cfg.ShutdownTimeout, err)
	}
	s.log.Info("shut down")
	return nil
}

// awaitShutdown waits for srv.Shutdown to report on closed. Meanwhile it
// closes idle connections every 100ms: net/http sends HTTP/2's GOAWAY only
// to connections that existed when Shutdown began, so one accepted just
// before it would otherwise stay open until the shutdown timeout.
func (s *Server) awaitShutdown(closed <-chan error) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-closed:
			return err
		case <-tick.C:
			s.conns.closeIdle()
		}
	}
}

// connTracker follows the state of the server's connections (set as
// http.Server.ConnState; HTTP/2 connections report Active and Idle by
// their open streams).
type connTracker struct {
	mu    sync.Mutex
	state map[net.Conn]http.ConnState
}

// track records that c entered state.
func (t *connTracker) track(c net.Conn, state http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(t.state, c)
	default:
		if t.state == nil {
			t.state = map[net.Conn]http.ConnState{}
		}
		t.state[c] = state
	}
}

// closeIdle closes the connections without a request in flight.
func (t *connTracker) closeIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c, state := range t.state {
		if state == http.StateIdle {
			_ = c.Close()
			delete(t.state, c)
		}
	}
}

// requestTracker counts in-flight requests and lets shutdown wait for none.
type requestTracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n == 0; nil means idle
}

func (t *requestTracker) add() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		t.idle = make(chan struct{})
	}
	t.n++
}

func (t *requestTracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 {
		close(t.idle)
	}
}

func (t *requestTracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// wait returns when no request is in flight, or ctx's error.
func (t *requestTracker) wait(ctx context.Context) error {
	t.mu.Lock()
	idle := t.idle
	t.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serverErrorLog routes net/http's own log lines to slog. Failed TLS
// handshakes (port scanners, probes) are Debug; the rest Warn.
type serverErrorLog struct{ log *slog.Logger }

func (l serverErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelWarn
	if strings.Contains(msg, "TLS handshake error") {
		level = slog.LevelDebug
	}
	l.log.Log(context.Background(), level, "http server", "error", msg)
	return len(p), nil
}
