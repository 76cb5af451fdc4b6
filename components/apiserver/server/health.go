package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/apiserver/endpoints"
)

// route serves the endpoints that belong to the server itself and hands
// every other path to the API.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	ep, check, isHealth := s.healthEndpointFor(r.URL.Path)
	isOwn := isHealth || r.URL.Path == "/version" || r.URL.Path == "/version/" || r.URL.Path == "/metrics"
	switch {
	case !isOwn:
		s.cfg.API.ServeHTTP(w, r)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		endpoints.WriteError(w, r, methodNotAllowed)
	case isHealth:
		s.serveHealth(w, r, ep, check)
	case r.URL.Path == "/metrics":
		s.metricsHTTP.ServeHTTP(w, r)
	default:
		s.serveVersion(w, r)
	}
}

// methodNotAllowed answers methods other than GET and HEAD on this
// package's endpoints.
var methodNotAllowed = &apierrors.StatusError{ErrStatus: metav1.Status{
	Status:  metav1.StatusFailure,
	Code:    http.StatusMethodNotAllowed,
	Reason:  metav1.StatusReasonMethodNotAllowed,
	Message: "the server does not allow this method on the requested resource",
}}

// serveVersion writes Config.Version as indented JSON, as upstream does.
func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	data, err := json.MarshalIndent(s.cfg.Version, "", "  ")
	if err != nil {
		endpoints.WriteError(w, r, fmt.Errorf("encode version: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

// metricsHandler serves the registry in the Prometheus text format (or
// OpenMetrics, if asked).
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      promLog{s},
	})
}

// promLog routes promhttp's errors to slog.
type promLog struct{ s *Server }

// Println logs v as one error.
func (l promLog) Println(v ...any) { l.s.log.Warn("serve metrics", "error", fmt.Sprint(v...)) }

// healthCheck is one named check of a health endpoint.
type healthCheck struct {
	name  string
	check func(context.Context) error
}

// healthEndpoint is /healthz, /livez or /readyz with its checks.
type healthEndpoint struct {
	name   string
	checks []healthCheck
}

// find returns the check called name, or nil.
func (e *healthEndpoint) find(name string) *healthCheck {
	for i := range e.checks {
		if e.checks[i].name == name {
			return &e.checks[i]
		}
	}
	return nil
}

// healthEndpoints builds the three endpoints as upstream arranges them:
// /livez answers whether the process works (ping), /readyz whether it
// should get traffic (ping, the ReadyChecks, and shutdown, which fails once
// shutdown begins), and the deprecated /healthz runs ping and the
// ReadyChecks.
func (s *Server) healthEndpoints() map[string]*healthEndpoint {
	ping := healthCheck{name: "ping", check: func(context.Context) error { return nil }}
	var ready []healthCheck
	for _, name := range slices.Sorted(maps.Keys(s.cfg.ReadyChecks)) {
		ready = append(ready, healthCheck{name: name, check: s.cfg.ReadyChecks[name]})
	}
	shutdown := healthCheck{name: "shutdown", check: func(context.Context) error {
		if s.shuttingDown.Load() {
			return errors.New("process is shutting down")
		}
		return nil
	}}
	return map[string]*healthEndpoint{
		"healthz": {name: "healthz", checks: append([]healthCheck{ping}, ready...)},
		"livez":   {name: "livez", checks: []healthCheck{ping}},
		"readyz":  {name: "readyz", checks: append(append([]healthCheck{ping}, ready...), shutdown)},
	}
}

// healthPaths are the roots of the health endpoints.
var healthPaths = []string{"/healthz", "/livez", "/readyz"}

// isHealthPath reports whether path is a health endpoint or one of its
// checks.
func isHealthPath(path string) bool {
	for _, p := range healthPaths {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// healthEndpointFor splits a path like /readyz/etcd into its endpoint and
// check name ("" for the endpoint itself).
func (s *Server) healthEndpointFor(path string) (ep *healthEndpoint, check string, ok bool) {
	if !isHealthPath(path) {
		return nil, "", false
	}
	name, check, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	ep, ok = s.health[name]
	return ep, check, ok
}

// serveHealth answers a health endpoint as upstream's healthz package
// does. The endpoint itself runs every check not named by ?exclude= and
// answers "ok", or with ?verbose one line per check ("[+]etcd ok") and
// "<name> check passed". On failure it always lists the checks, without
// their errors ("[-]etcd failed: reason withheld", the detail goes to the
// log), ends with "<name> check failed" and answers 500. A single check,
// /readyz/etcd, answers "ok" or 500 with its error.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request, ep *healthEndpoint, check string) {
	if check != "" {
		c := ep.find(check)
		if c == nil {
			http.NotFound(w, r)
			return
		}
		if err := c.check(r.Context()); err != nil {
			s.log.Info("health check failed", "endpoint", ep.name, "check", c.name, "err", err)
			http.Error(w, "internal server error: "+err.Error(), http.StatusInternalServerError)
			return
		}
		writeText(w, r, "ok")
		return
	}

	query := r.URL.Query()
	excluded := map[string]bool{}
	for _, name := range query["exclude"] {
		excluded[name] = true
	}
	var (
		out    bytes.Buffer
		failed []any
	)
	for _, c := range ep.checks {
		if excluded[c.name] {
			delete(excluded, c.name)
			fmt.Fprintf(&out, "[+]%s excluded: ok\n", c.name)
			continue
		}
		if err := c.check(r.Context()); err != nil {
			fmt.Fprintf(&out, "[-]%s failed: reason withheld\n", c.name)
			failed = append(failed, c.name, err.Error())
			continue
		}
		fmt.Fprintf(&out, "[+]%s ok\n", c.name)
	}
	if len(excluded) > 0 {
		fmt.Fprintf(&out, "warn: some health checks cannot be excluded: no matches for %q\n", slices.Sorted(maps.Keys(excluded)))
	}
	if len(failed) > 0 {
		s.log.Info("health check failed", append([]any{"endpoint", ep.name}, failed...)...)
		http.Error(w, out.String()+ep.name+" check failed", http.StatusInternalServerError)
		return
	}
	if _, verbose := query["verbose"]; !verbose {
		writeText(w, r, "ok")
		return
	}
	writeText(w, r, out.String()+ep.name+" check passed\n")
}

// writeText writes a 200 text/plain response.
func writeText(w http.ResponseWriter, r *http.Request, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(text))
	}
}
