package server

import (
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/apiserver/endpoints"
)

// withBodyLimit rejects request bodies larger than MaxRequestBodyBytes. A
// declared Content-Length over the limit is refused before the handler
// runs; a body of unknown length (chunked) is read through limitedBody,
// whose Read fails once the limit is passed with a 413 StatusError that the
// API's decoder hands back to the client (endpoints.WriteError finds it
// with errors.As).
func (s *Server) withBodyLimit(next http.Handler) http.Handler {
	limit := s.cfg.MaxRequestBodyBytes
	if limit < 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			endpoints.WriteError(w, r, tooLarge(limit))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &limitedBody{ReadCloser: r.Body, remaining: limit, limit: limit}
		}
		next.ServeHTTP(w, r)
	})
}

// tooLarge is the 413 for a body over limit bytes.
func tooLarge(limit int64) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusRequestEntityTooLarge,
		Reason:  metav1.StatusReasonRequestEntityTooLarge,
		Message: fmt.Sprintf("request entity too large: limit is %d", limit),
	}}
}

// limitedBody reads at most limit bytes; reading past them fails with
// tooLarge. Unlike io.LimitReader it tells a body of exactly limit bytes
// (fine) from a longer one (an error), by reading one byte ahead.
type limitedBody struct {
	io.ReadCloser
	remaining, limit int64
	err              error
}

// Read reads from the body, failing once more than limit bytes arrived.
func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.remaining+1 {
		p = p[:b.remaining+1]
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.remaining {
		n = int(b.remaining)
		b.remaining = 0
		b.err = tooLarge(b.limit)
		return n, b.err
	}
	b.remaining -= int64(n)
	return n, err
}
