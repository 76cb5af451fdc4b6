package server

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/apiserver/endpoints"
)

// panicMessage is what a client sees when its request panicked, as
// upstream words it; the panic itself goes to the log only.
const panicMessage = "This request caused apiserver to panic. Look in the logs for details."

// handlerPanic carries a panic from the goroutine that the timeout filter
// runs the handler in, with the stack where it happened.
type handlerPanic struct {
	value any
	stack []byte
}

// withPanicRecovery turns a panic anywhere in the chain into a 500 Status
// that reveals nothing, and logs the panic with its stack. If the response
// had already begun, the connection (or HTTP/2 stream) is aborted instead so
// the client cannot mistake a cut-off body for a complete one.
// http.ErrAbortHandler passes through untouched.
func (s *Server) withPanicRecovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recorderFor(w)
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			value, stack := p, []byte(nil)
			if hp, ok := p.(*handlerPanic); ok {
				value, stack = hp.value, hp.stack
			}
			if err, ok := value.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(http.ErrAbortHandler)
			}
			if stack == nil {
				stack = debug.Stack()
			}
			s.log.Error("panic serving request",
				"method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(value), "stack", string(stack))
			if rec.wroteHeader() {
				panic(http.ErrAbortHandler)
			}
			endpoints.WriteError(rec, r, internalError(panicMessage))
		}()
		next.ServeHTTP(rec, r)
	})
}

// internalError is a 500 Status with message and no internals.
func internalError(message string) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusInternalServerError,
		Reason:  metav1.StatusReasonInternalError,
		Message: message,
	}}
}
