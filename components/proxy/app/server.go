package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// server is an HTTP server on a listener opened beforehand (so a bad
// address fails the command at start), shut down when ctx ends.
type server struct {
	name    string
	ln      net.Listener
	handler http.Handler
}

// Run serves until ctx ends.
func (s *server) Run(ctx context.Context) error {
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s server: %w", s.name, err)
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutCtx); err != nil {
			slog.Warn("shut down server", "server", s.name, "error", err)
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s server: %w", s.name, err)
		}
		return nil
	}
}

// healthStatus is upstream's /healthz body.
type healthStatus struct {
	LastUpdated string `json:"lastUpdated"`
	CurrentTime string `json:"currentTime"`
}

// healthMux serves /healthz and /livez as upstream's proxier health
// server: 200 once the rules were synced within twice the sync period,
// 503 before the first sync or when syncs stopped succeeding. now is
// time.Now when nil.
func healthMux(lastSync func() time.Time, syncPeriod time.Duration, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		last, cur := lastSync(), now()
		healthy := !last.IsZero() && cur.Sub(last) <= 2*syncPeriod
		st := healthStatus{CurrentTime: cur.UTC().Format(time.RFC3339Nano)}
		if !last.IsZero() {
			st.LastUpdated = last.UTC().Format(time.RFC3339Nano)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if healthy {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(st)
	})
	mux := http.NewServeMux()
	mux.Handle("/healthz", h)
	mux.Handle("/livez", h)
	return mux
}

// metricsMux serves the registry at /metrics in the Prometheus text format.
func metricsMux(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}
