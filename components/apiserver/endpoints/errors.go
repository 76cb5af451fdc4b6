package endpoints

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StatusFor converts err into the metav1.Status a client sees. Errors that
// are not API errors become a 500 whose message hides internals.
func StatusFor(err error) metav1.Status {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		st := status.Status()
		st.Kind, st.APIVersion = "Status", "v1"
		if st.Status == "" {
			st.Status = metav1.StatusFailure
		}
		if st.Code == 0 {
			st.Code = http.StatusInternalServerError
		}
		return st
	}
	slog.Error("internal error", "err", err)
	return metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Code: http.StatusInternalServerError,
		Reason:  metav1.StatusReasonInternalError,
		Message: "Internal error occurred: the server could not complete the request",
	}
}

// WriteError writes err as a JSON metav1.Status with its HTTP code.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	st := StatusFor(err)
	if st.Details != nil && st.Details.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(st.Details.RetryAfterSeconds)))
	}
	data, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(int(st.Code))
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(data)
		_, _ = w.Write([]byte("\n"))
	}
}

func unsupportedStatus(ct string) metav1.Status {
	return metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType,
		Reason:  metav1.StatusReasonUnsupportedMediaType,
		Message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml; got " + strconv.Quote(ct),
	}
}

func asStatus(err error, target *apierrors.APIStatus) bool { return errors.As(err, target) }

// notAcceptable is the 406 for an Accept header nothing matches.
func notAcceptable(accept string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotAcceptable, Reason: metav1.StatusReasonNotAcceptable,
		Message: "the server was unable to respond with a content type that the client supports (accepted: application/json, application/yaml; got " + strconv.Quote(accept) + ")",
	}}
}
