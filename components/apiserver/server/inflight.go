package server

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubelab/kubelab/components/apiserver/authn"
	"github.com/kubelab/kubelab/components/apiserver/authz"
	"github.com/kubelab/kubelab/components/apiserver/endpoints"
)

// Request kinds of the apiserver_current_inflight_requests metric.
const (
	kindReadOnly = "readOnly"
	kindMutating = "mutating"
)

// tooManyRequests is the 429 for a request over the in-flight limit; its
// RetryAfterSeconds becomes the Retry-After header.
var tooManyRequests = apierrors.NewTooManyRequests("Too many requests, please try again later.", 1)

// withMaxInFlight limits concurrent requests as upstream's
// --max-requests-inflight and --max-mutating-requests-inflight do:
// mutating and other requests fill separate pools, and a request finding
// its pool full gets a 429 at once (no queueing). Not counted: long-running
// requests (tracked by apiserver_longrunning_requests instead) and the
// health endpoints, so probes answer on a busy server. As upstream, a
// member of system:masters is served even when the pool is full.
func (s *Server) withMaxInFlight(next http.Handler) http.Handler {
	pools := map[string]chan struct{}{
		kindReadOnly: newPool(s.cfg.MaxRequestsInFlight),
		kindMutating: newPool(s.cfg.MaxMutatingRequestsInFlight),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateFrom(r.Context())
		if st.longRunning {
			g := s.metrics.longRunning.WithLabelValues(s.longRunningLabels(r, st)...)
			g.Inc()
			defer g.Dec()
			next.ServeHTTP(w, r)
			return
		}
		kind := requestKind(st.info)
		pool := pools[kind]
		if pool == nil || isHealthPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case pool <- struct{}{}:
			g := s.metrics.inflight.WithLabelValues(kind)
			g.Inc()
			defer func() {
				g.Dec()
				<-pool
			}()
			next.ServeHTTP(w, r)
		default:
			if st.user.InGroup(authn.GroupMasters) {
				next.ServeHTTP(w, r)
				return
			}
			s.log.Debug("too many requests in flight", "kind", kind, "path", r.URL.Path, "user", userName(st.user))
			endpoints.WriteError(w, r, tooManyRequests)
		}
	})
}

// newPool returns a semaphore of size n, or nil (unlimited) for n < 0.
func newPool(n int) chan struct{} {
	if n < 0 {
		return nil
	}
	return make(chan struct{}, n)
}

// requestKind is kindMutating for the verbs that change state (create,
// update, patch, delete, deletecollection, and non-resource POST, PUT,
// PATCH and DELETE), else kindReadOnly.
func requestKind(info *endpoints.RequestInfo) string {
	switch info.Verb {
	case authz.VerbCreate, authz.VerbUpdate, authz.VerbPatch, authz.VerbDelete, authz.VerbDeleteCollection,
		"post", "put":
		return kindMutating
	}
	return kindReadOnly
}
