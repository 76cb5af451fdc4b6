package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelab/kubelab/components/apiserver/endpoints"
)

// component is the component label of every request metric.
const component = "apiserver"

// metrics are the request metrics, named and labelled as upstream's
// k8s.io/apiserver/pkg/endpoints/metrics.
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	inflight    *prometheus.GaugeVec
	longRunning *prometheus.GaugeVec
}

// Label names, in upstream's order.
var (
	requestLabelNames     = []string{"verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component", "code"}
	latencyLabelNames     = requestLabelNames[:len(requestLabelNames)-1]
	longRunningLabelNames = []string{"verb", "group", "version", "resource", "subresource", "scope", "component"}
)

// newMetrics registers the metrics with reg (a new registry with the Go and
// process collectors when nil). Metrics already registered by an earlier
// Server on the same registry are shared.
func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &metrics{registry: reg}
	var errs []error
	m.requests = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "apiserver_request_total",
		Help: "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.",
	}, requestLabelNames), &errs)
	m.latency = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "apiserver_request_duration_seconds",
		Help: "Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.",
		Buckets: []float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3,
			4, 5, 6, 8, 10, 15, 20, 30, 45, 60},
	}, latencyLabelNames), &errs)
	m.inflight = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "apiserver_current_inflight_requests",
		Help: "Number of requests currently holding a slot of the in-flight limits, per request kind.",
	}, []string{"request_kind"}), &errs)
	m.longRunning = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "apiserver_longrunning_requests",
		Help: "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component. Not all requests are tracked this way.",
	}, longRunningLabelNames), &errs)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	m.inflight.WithLabelValues(kindReadOnly).Add(0)
	m.inflight.WithLabelValues(kindMutating).Add(0)
	return m, nil
}

// register registers c with reg and returns it, or the equal collector
// registered before; other failures are appended to errs.
func register[C prometheus.Collector](reg *prometheus.Registry, c C, errs *[]error) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	*errs = append(*errs, err)
	return c
}

// withMetricsAndLog counts and times every request, and writes the access
// log line: Debug normally, Warn for a 5xx. A request that panics is
// recorded as a 500 on its way out to the recovery filter.
func (s *Server) withMetricsAndLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateFrom(r.Context())
		rec := recorderFor(w)
		completed := false
		defer func() {
			code := rec.code()
			if !completed { // a panic, or an abort after the response began
				code = http.StatusInternalServerError
				if st.abortCode != 0 {
					code = st.abortCode
				}
			}
			elapsed := time.Since(st.start)
			labels := s.requestLabels(r, st, code)
			s.metrics.requests.WithLabelValues(append(labels, strconv.Itoa(code))...).Inc()
			s.metrics.latency.WithLabelValues(labels...).Observe(elapsed.Seconds())
			s.logRequest(r, st, code, rec.written, elapsed)
		}()
		next.ServeHTTP(rec, r)
		completed = true
	})
}

// logRequest writes the access log line of a finished request.
func (s *Server) logRequest(r *http.Request, st *requestState, code int, bytes int64, elapsed time.Duration) {
	level := slog.LevelDebug
	if code >= 500 {
		level = slog.LevelWarn
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	s.log.LogAttrs(r.Context(), level, "HTTP",
		slog.String("verb", st.info.Verb),
		slog.String("path", r.URL.Path),
		slog.String("user", userName(st.user)),
		slog.Int("code", code),
		slog.Duration("latency", elapsed),
		slog.Int64("bytes", bytes),
		slog.String("userAgent", r.UserAgent()),
		slog.String("srcIP", r.RemoteAddr),
	)
}

// requestLabels returns the values of latencyLabelNames for a request;
// apiserver_request_total adds the code.
//
// verb is upstream's metric verb, upper case and derived from the HTTP
// method: GET for a single object or a non-resource path, LIST for a
// collection, WATCH for a watch, POST, PUT, PATCH, APPLY (a server-side
// apply patch), DELETE (also for a collection), CONNECT for the
// exec/attach/portforward/proxy/log subresources, "other" for anything
// else. scope is "resource" (a named object, or a create), "namespace",
// "cluster", or "" for non-resource paths, whose path goes into the
// subresource label as upstream does for /healthz and friends.
//
// To keep label values bounded whatever clients send, requests that failed
// authentication carry no resource labels, and a non-resource path is
// recorded only when it is one this server knows or was served without
// error.
func (s *Server) requestLabels(r *http.Request, st *requestState, code int) []string {
	info := st.info
	if !st.authenticated {
		info = &endpoints.RequestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	}
	scope := metricScope(info)
	verb := metricVerb(r, info, scope)
	if info.IsResourceRequest {
		return []string{verb, dryRun(r), info.APIGroup, info.APIVersion, info.Resource, info.Subresource, scope, component}
	}
	path := ""
	if s.isKnownPath(info.Path) || (st.authenticated && code < 400) {
		path = info.Path
	}
	return []string{verb, dryRun(r), "", "", "", path, scope, component}
}

// longRunningLabels returns the values of longRunningLabelNames.
func (s *Server) longRunningLabels(r *http.Request, st *requestState) []string {
	l := s.requestLabels(r, st, http.StatusOK)
	return append(l[:1], l[2:]...) // without dry_run
}

// metricScope is upstream's CleanScope.
func metricScope(info *endpoints.RequestInfo) string {
	switch {
	case info.Name != "" || (info.IsResourceRequest && info.Verb == "create"):
		return "resource"
	case info.Namespace != "":
		return "namespace"
	case info.IsResourceRequest:
		return "cluster"
	}
	return ""
}

// metricVerbs are the verb label values; others are reported as "other".
var metricVerbs = []string{"APPLY", "CONNECT", "DELETE", "GET", "LIST", "PATCH", "POST", "PUT", "WATCH"}

// connectSubresources are reported with the verb CONNECT.
var connectSubresources = []string{"attach", "exec", "log", "portforward", "proxy"}

// metricVerb is upstream's CanonicalVerb followed by its cleanVerb.
func metricVerb(r *http.Request, info *endpoints.RequestInfo, scope string) string {
	verb := strings.ToUpper(r.Method)
	if verb == http.MethodGet || verb == http.MethodHead {
		verb = http.MethodGet
		if scope != "resource" && scope != "" {
			verb = "LIST"
		}
	}
	if isWatchQuery(r) || (info.IsResourceRequest && info.Verb == "watch") {
		verb = "WATCH"
	}
	if verb == http.MethodPatch {
		switch r.Header.Get("Content-Type") {
		case string(types.ApplyPatchType), string(types.ApplyCBORPatchType):
			verb = "APPLY"
		}
	}
	if info.IsResourceRequest && slices.Contains(connectSubresources, info.Subresource) {
		verb = "CONNECT"
	}
	if !slices.Contains(metricVerbs, verb) {
		return "other"
	}
	return verb
}

// dryRun is upstream's dry_run label: "" without ?dryRun, "All" when every
// value is All, else "invalid".
func dryRun(r *http.Request) string {
	if !strings.Contains(r.URL.RawQuery, "dryRun") {
		return ""
	}
	values := r.URL.Query()["dryRun"]
	if len(values) == 0 {
		return ""
	}
	for _, v := range values {
		if v != "All" {
			return "invalid"
		}
	}
	return "All"
}

// isKnownPath reports whether path is served by this package or is a
// fixed root of the API, safe to use as a label value.
func (s *Server) isKnownPath(path string) bool {
	switch path {
	case "/api", "/apis", "/metrics", "/openapi/v2", "/openapi/v3", "/version", "/version/":
		return true
	}
	ep, check, ok := s.healthEndpointFor(path)
	return ok && (check == "" || ep.find(check) != nil)
}
