package server

import (
	"context"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubelab/kubelab/components/apiserver/endpoints"
)

// withTimeout bounds requests that are not long-running by RequestTimeout,
// or by a shorter ?timeout= (a Go duration, as client-go sends it). The
// handler runs in its own goroutine with a context that expires then; if it
// has not answered by then the client gets a 504 Timeout Status and
// whatever the handler writes later is discarded. If it had already begun
// its response, the stream is aborted instead, as upstream does.
func (s *Server) withTimeout(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stateFrom(r.Context()).longRunning {
			next.ServeHTTP(w, r)
			return
		}
		timeout := s.cfg.RequestTimeout
		if v := r.URL.Query().Get("timeout"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				endpoints.WriteError(w, r, apierrors.NewBadRequest("invalid timeout specified in the request URL: "+v))
				return
			}
			if d > 0 && d < timeout {
				timeout = d
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()

		tw := &timeoutWriter{w: w, header: http.Header{}, ctx: ctx}
		done := make(chan struct{})
		var panicked *handlerPanic
		go func() {
			defer close(done)
			defer func() {
				if p := recover(); p != nil {
					panicked = &handlerPanic{value: p, stack: debug.Stack()}
				}
			}()
			next.ServeHTTP(tw, r.WithContext(ctx))
		}()
		select {
		case <-done:
		case <-ctx.Done():
		}
		select {
		case <-done:
			if panicked != nil {
				panic(panicked)
			}
			if !tw.expired() {
				return // answered in time
			}
			// It returned after a write was refused for being too late.
		default: // still running past its deadline
		}
		if !tw.timeout(r) {
			stateFrom(r.Context()).abortCode = http.StatusGatewayTimeout
			panic(http.ErrAbortHandler)
		}
	})
}

// timeoutError is the 504 of a request that ran out of time.
var timeoutError = apierrors.NewTimeoutError("request did not complete within requested timeout - context deadline exceeded", 0)

// timeoutWriter lets the handler goroutine and the timeout filter share a
// response safely: the handler writes headers into its own map, copied to
// the real response when it writes its header, and after the timeout every
// write fails with http.ErrHandlerTimeout.
type timeoutWriter struct {
	w      http.ResponseWriter
	header http.Header     // the handler's, copied out by WriteHeader
	ctx    context.Context // the handler's; once done, writes fail

	mu          sync.Mutex
	wroteHeader bool
	timedOut    bool
}

var _ http.Flusher = (*timeoutWriter)(nil)

// Header returns the handler's header map.
func (tw *timeoutWriter) Header() http.Header { return tw.header }

// WriteHeader sends the handler's header with code, unless timed out.
func (tw *timeoutWriter) WriteHeader(code int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.writeHeaderLocked(code)
}

func (tw *timeoutWriter) writeHeaderLocked(code int) {
	if tw.expiredLocked() || tw.wroteHeader {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		tw.w.WriteHeader(code) // informational; the final header follows
		return
	}
	dst := tw.w.Header()
	for k, v := range tw.header {
		dst[k] = v
	}
	tw.wroteHeader = true
	tw.w.WriteHeader(code)
}

// Write writes b, or fails with http.ErrHandlerTimeout after the timeout.
func (tw *timeoutWriter) Write(b []byte) (int, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.expiredLocked() {
		return 0, http.ErrHandlerTimeout
	}
	tw.writeHeaderLocked(http.StatusOK)
	return tw.w.Write(b)
}

// Flush sends buffered data to the client.
func (tw *timeoutWriter) Flush() { _ = tw.FlushError() }

// FlushError sends buffered data to the client, or fails after the timeout.
func (tw *timeoutWriter) FlushError() error {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.expiredLocked() {
		return http.ErrHandlerTimeout
	}
	tw.writeHeaderLocked(http.StatusOK)
	return http.NewResponseController(tw.w).Flush()
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (tw *timeoutWriter) Unwrap() http.ResponseWriter { return tw.w }

// expiredLocked reports whether the handler lost the response: its
// context is done (checked here, not only when the filter's goroutine
// notices, so that a handler woken by the deadline cannot slip its own
// answer in before the 504).
func (tw *timeoutWriter) expiredLocked() bool {
	if !tw.timedOut && tw.ctx.Err() != nil {
		tw.timedOut = true
	}
	return tw.timedOut
}

// expired reports whether a write of the handler was refused.
func (tw *timeoutWriter) expired() bool {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.timedOut
}

// timeout ends the handler's access to the response and writes the 504 if
// the handler had not begun its own. It reports false when it had, and the
// response cannot be completed.
func (tw *timeoutWriter) timeout(r *http.Request) bool {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.timedOut = true
	if tw.wroteHeader {
		return false
	}
	endpoints.WriteError(tw.w, r, timeoutError)
	return true
}
