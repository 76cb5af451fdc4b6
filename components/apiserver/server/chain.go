package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubelab/kubelab/components/apiserver/authn"
	"github.com/kubelab/kubelab/components/apiserver/authz"
	"github.com/kubelab/kubelab/components/apiserver/endpoints"
)

// buildChain wraps the routes in the filters, innermost first; the package
// comment lists them outermost first.
func (s *Server) buildChain() http.Handler {
	var h http.Handler = http.HandlerFunc(s.route)
	h = s.withTimeout(h)
	h = s.withBodyLimit(h)
	h = s.withAuthorization(h)
	// Max in flight sits between authentication and authorization, as
	// upstream's does: any authenticated user who is not in system:masters
	// is throttled, whether or not the request would be allowed.
	h = s.withMaxInFlight(h)
	h = s.withAuthentication(h)
	h = s.withMetricsAndLog(h)
	h = s.withRequestInfo(h)
	h = s.withPanicRecovery(h)
	return h
}

// requestState is what the filters learn about a request and share: the
// outer ones (metrics, access log) report what the inner ones decided.
type requestState struct {
	start       time.Time
	info        *endpoints.RequestInfo
	longRunning bool
	// user is set by authentication; authenticated is true when the
	// request passed it (anonymous access to a public path included).
	user          *authn.User
	authenticated bool
	// abortCode is the status to record for a response the chain
	// aborted after it had begun (the client got a cut-off response).
	abortCode int
}

type stateKey struct{}

// stateFrom returns the requestState of ctx; every request in the chain
// has one, a request outside it gets an empty one.
func stateFrom(ctx context.Context) *requestState {
	if st, ok := ctx.Value(stateKey{}).(*requestState); ok {
		return st
	}
	return &requestState{start: time.Now(), info: &endpoints.RequestInfo{}}
}

// withRequestInfo parses the request (endpoints.ParseRequestInfo) and
// stores it, decides whether it is long-running, and registers it for
// shutdown: long-running requests get a context that shutdown cancels,
// the others are counted so shutdown can wait for them.
func (s *Server) withRequestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := endpoints.ParseRequestInfo(r)
		st := &requestState{start: time.Now(), info: info, longRunning: isLongRunning(r, info)}
		ctx := endpoints.WithRequestInfo(r.Context(), info)
		ctx = context.WithValue(ctx, stateKey{}, st)
		if st.longRunning {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			stop := context.AfterFunc(s.stopping, cancel)
			defer stop()
		} else {
			s.requests.add()
			defer s.requests.done()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isLongRunning reports whether a request may legitimately stay open for
// long, as upstream's default --long-running-request-regexp and
// BasicLongRunningRequestCheck decide: watches, proxy, and the attach,
// exec, log, port-forward and proxy subresources. Such requests are not
// timed out nor counted against max-in-flight.
func isLongRunning(r *http.Request, info *endpoints.RequestInfo) bool {
	if !info.IsResourceRequest {
		return false
	}
	switch info.Verb {
	case authz.VerbWatch, "proxy":
		return true
	}
	if isWatchQuery(r) {
		return true
	}
	switch info.Subresource {
	case "attach", "exec", "log", "portforward", "proxy":
		return true
	}
	return false
}

// isWatchQuery reports whether r is a GET with a true ?watch= parameter
// (as apimachinery converts it: anything but "0" and "false").
func isWatchQuery(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	values, ok := r.URL.Query()["watch"]
	if !ok || len(values) == 0 {
		return false
	}
	v := strings.ToLower(values[0])
	return v != "0" && v != "false"
}

// publicPaths may be read without credentials, like upstream's
// system:public-info-viewer role grants to everyone.
var publicPaths = []string{"/healthz", "/livez", "/readyz", "/version"}

// isPublicPath reports whether path is one of publicPaths or below one.
func isPublicPath(path string) bool {
	for _, p := range publicPaths {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// unauthorized is upstream's 401 for requests without valid credentials.
var unauthorized = apierrors.NewUnauthorized("Unauthorized")

// withAuthentication finds the user and stores it in the context. Invalid
// credentials are a 401 on every path; no credentials are a 401 except on
// the public paths, which proceed as system:anonymous. The Authorization
// header is removed once used, so that handlers never see the token.
func (s *Server) withAuthentication(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateFrom(r.Context())
		user, ok, err := s.cfg.Authenticator.Authenticate(r)
		switch {
		case err != nil:
			s.log.Debug("authentication failed", "path", r.URL.Path, "err", err)
			endpoints.WriteError(w, r, unauthorized)
			return
		case ok && user != nil:
		case isPublicPath(r.URL.Path):
			user = authn.AnonymousUser()
		default:
			endpoints.WriteError(w, r, unauthorized)
			return
		}
		st.user, st.authenticated = user, true
		r.Header.Del("Authorization")
		next.ServeHTTP(w, r.WithContext(authn.WithUser(r.Context(), user)))
	})
}

// withAuthorization asks the Authorizer about every request except those to
// the public paths. A denial is upstream's 403; an authorizer that fails
// without allowing is a 500 (the error is logged, not shown).
func (s *Server) withAuthorization(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPublicPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		st := stateFrom(r.Context())
		attrs := attributes(st.user, st.info)
		decision, reason, err := s.cfg.Authorizer.Authorize(r.Context(), attrs)
		if decision == authz.DecisionAllow {
			next.ServeHTTP(w, r)
			return
		}
		if err != nil {
			s.log.Error("authorization failed", "path", r.URL.Path, "verb", attrs.Verb, "user", userName(st.user), "err", err)
			endpoints.WriteError(w, r, internalError("Internal error occurred: the server could not authorize the request"))
			return
		}
		s.log.Debug("forbidden", "path", r.URL.Path, "verb", attrs.Verb, "user", userName(st.user), "reason", reason)
		endpoints.WriteError(w, r, authz.Forbidden(attrs, reason))
	})
}

// attributes describes a request to the Authorizer: resource attributes
// for resource requests, else the path and the lower-case HTTP method.
func attributes(user *authn.User, info *endpoints.RequestInfo) authz.Attributes {
	a := authz.Attributes{User: user, Verb: info.Verb, Path: info.Path}
	if info.IsResourceRequest {
		a.ResourceRequest = true
		a.APIGroup, a.APIVersion = info.APIGroup, info.APIVersion
		a.Resource, a.Subresource = info.Resource, info.Subresource
		a.Namespace, a.Name = info.Namespace, info.Name
	}
	return a
}

// userName is u's name, or "" for none.
func userName(u *authn.User) string {
	if u == nil {
		return ""
	}
	return u.Name
}
