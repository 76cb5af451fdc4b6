package integration

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestErrorStatuses(t *testing.T) {
	cp := start(t)
	ns := newNamespace(t, cp.Client, "errors")
	cms := "/api/v1/namespaces/" + ns + "/configmaps"
	big := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":"` + strings.Repeat("x", 3<<20+10) + `"}}`
	badPod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad"},"spec":{"restartPolicy":"Sometimes",` +
		`"containers":[{"name":"Main_1","image":""}]}}`
	cases := []struct {
		name         string
		method, path string
		body         string
		headers      []string
		code         int
		reason       metav1.StatusReason
		causes       []string // fields every one of which must be listed
		message      string   // a part of the message
	}{
		{name: "malformed JSON", method: "POST", path: cms, body: `{"metadata": {`,
			code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "wrong apiVersion", method: "POST", path: cms, body: `{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}`,
			code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "wrong kind", method: "POST", path: cms, body: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`,
			code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "unknown field, Strict", method: "POST", path: cms + "?fieldValidation=Strict",
			body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict"},"bogus":1}`,
			code: 400, reason: metav1.StatusReasonBadRequest, message: `unknown field "bogus"`},
		{name: "duplicate field, Strict", method: "POST", path: cms + "?fieldValidation=Strict",
			body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","name":"dup2"}}`,
			code: 400, reason: metav1.StatusReasonBadRequest, message: `duplicate field "metadata.name"`},
		{name: "bad fieldValidation", method: "POST", path: cms + "?fieldValidation=Maybe",
			body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`, code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "bad dryRun", method: "POST", path: cms + "?dryRun=Some",
			body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`, code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "empty body", method: "POST", path: cms, body: ` `, code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "name mismatch on PUT", method: "PUT", path: cms + "/one", body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"two"}}`,
			code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "namespace mismatch", method: "POST", path: cms, body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"default"}}`,
			code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "unknown resource", method: "GET", path: "/api/v1/namespaces/" + ns + "/nopes", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "unknown group", method: "GET", path: "/apis/nope.example.com/v1/things", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "missing object", method: "GET", path: cms + "/missing", code: 404, reason: metav1.StatusReasonNotFound,
			message: `configmaps "missing" not found`},
		{name: "POST to an object", method: "POST", path: cms + "/one", body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"one"}}`,
			code: 405, reason: metav1.StatusReasonMethodNotAllowed},
		{name: "PUT to a collection", method: "PUT", path: cms, body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"one"}}`,
			code: 405, reason: metav1.StatusReasonMethodNotAllowed},
		{name: "PATCH a collection", method: "PATCH", path: cms, body: `{}`, headers: []string{"Content-Type", "application/merge-patch+json"},
			code: 405, reason: metav1.StatusReasonMethodNotAllowed},
		{name: "body over 3 MiB", method: "POST", path: cms, body: big, code: 413, reason: metav1.StatusReasonRequestEntityTooLarge},
		{name: "text/plain body", method: "POST", path: cms, body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`,
			headers: []string{"Content-Type", "text/plain"}, code: 415, reason: metav1.StatusReasonUnsupportedMediaType},
		{name: "unacceptable Accept", method: "GET", path: cms, headers: []string{"Accept", "text/html"},
			code: 406, reason: metav1.StatusReasonNotAcceptable},
		{name: "invalid pod", method: "POST", path: "/api/v1/namespaces/" + ns + "/pods", body: badPod,
			code: 422, reason: metav1.StatusReasonInvalid,
			causes:  []string{"spec.restartPolicy", "spec.containers[0].name", "spec.containers[0].image"},
			message: `Pod "bad" is invalid`},
		{name: "invalid name", method: "POST", path: cms, body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}`,
			code: 422, reason: metav1.StatusReasonInvalid, causes: []string{"metadata.name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			resp := do(t, cp.Config, tc.method, tc.path, body, tc.headers...)
			if resp.code != tc.code {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, resp.code, truncate(resp.body), tc.code)
			}
			st := resp.status(t)
			if st.Kind != "Status" || st.APIVersion != "v1" || st.Status != metav1.StatusFailure || st.Code != int32(tc.code) || st.Reason != tc.reason {
				t.Errorf("status %s/%s %s code %d reason %s, want v1/Status Failure %d %s", st.APIVersion, st.Kind, st.Status, st.Code, st.Reason, tc.code, tc.reason)
			}
			if !strings.Contains(st.Message, tc.message) {
				t.Errorf("message %q lacks %q", st.Message, tc.message)
			}
			for _, f := range tc.causes {
				if !hasCause(statusErr{st}, f) || !strings.Contains(st.Message, f) {
					t.Errorf("status lacks a cause (or message part) for %s: %s", f, resp.body)
				}
			}
			if resp.header.Get("Content-Type") != "application/json" {
				t.Errorf("error Content-Type %q", resp.header.Get("Content-Type"))
			}
		})
	}

	t.Run("unknown field, Warn", func(t *testing.T) {
		for _, q := range []string{"?fieldValidation=Warn", ""} {
			name := "warned" + strings.TrimPrefix(strings.ToLower(q), "?fieldvalidation=")
			body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + name + `"},"bogus":1}`
			resp := do(t, cp.Config, "POST", cms+q, []byte(body))
			if resp.code != 201 {
				t.Fatalf("create with an unknown field (%q): %d %s", q, resp.code, resp.body)
			}
			if w := resp.header.Values("Warning"); len(w) != 1 || !strings.Contains(w[0], `unknown field \"bogus\"`) || !strings.HasPrefix(w[0], "299 - ") {
				t.Errorf("Warning headers %q, want one 299 warning about bogus", w)
			}
		}
		resp := do(t, cp.Config, "POST", cms+"?fieldValidation=Ignore",
			[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ignored"},"bogus":1}`))
		if resp.code != 201 || len(resp.header.Values("Warning")) != 0 {
			t.Errorf("Ignore: %d warnings %q", resp.code, resp.header.Values("Warning"))
		}
	})

	t.Run("internal errors hide internals", func(t *testing.T) {
		// A value in etcd the server cannot decode.
		ec := etcdClient(t, cp)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if _, err := ec.Put(ctx, "/registry/configmaps/"+ns+"/corrupt", "\x00not json at all"); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{cms + "/corrupt", cms} {
			resp := do(t, cp.Config, "GET", path, nil)
			if resp.code != 500 {
				t.Errorf("GET %s over a corrupt value: %d %s, want 500", path, resp.code, resp.body)
				continue
			}
			st := resp.status(t)
			if st.Reason != metav1.StatusReasonInternalError {
				t.Errorf("reason %s, want InternalError", st.Reason)
			}
			for _, leak := range []string{cp.DataDir, "/registry/", "goroutine", ".go:", "client.sock", "panic"} {
				if bytes.Contains(resp.body, []byte(leak)) {
					t.Errorf("500 body leaks %q: %s", leak, resp.body)
				}
			}
		}
	})
}

// statusErr adapts a Status to hasCause.
type statusErr struct{ st metav1.Status }

func (s statusErr) Status() metav1.Status { return s.st }

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}
