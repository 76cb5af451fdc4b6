package endpoints

import (
	"context"
	"net/http"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Connector serves connect subresources (pods/log, pods/exec, pods/attach,
// pods/portforward): requests the API server hands on to where the work
// happens, the pod's kubelet, rather than answering from storage.
type Connector interface {
	// Serves reports whether the connector serves subresource sub of
	// resource gr.
	Serves(gr schema.GroupResource, sub string) bool
	// Connect serves the request for subresource sub of obj (the object
	// the path names, read from storage). An error is written as a Status
	// when nothing was written yet.
	Connect(ctx context.Context, w http.ResponseWriter, r *http.Request, obj runtime.Object, sub string) error
}

// SetConnector makes h serve connect subresources through c.
func (h *Handler) SetConnector(c Connector) { h.connector = c }

// connectMethods are the HTTP methods each connect subresource accepts,
// as upstream: logs are read with GET; exec, attach and port-forward
// upgrade a GET (websocket) or a POST (SPDY).
var connectMethods = map[string][]string{
	"log":         {http.MethodGet},
	"exec":        {http.MethodGet, http.MethodPost},
	"attach":      {http.MethodGet, http.MethodPost},
	"portforward": {http.MethodGet, http.MethodPost},
}

// connects reports whether rq is a connect subresource request h serves.
func (rq *request) connects() bool {
	c := rq.h.connector
	if c == nil || rq.info.Name == "" {
		return false
	}
	res := rq.s.Resource()
	return c.Serves(schema.GroupResource{Group: res.GroupVersion.Group, Resource: res.Name}, rq.info.Subresource)
}

// connect reads the object and hands the request to the connector.
func (rq *request) connect() {
	sub := rq.info.Subresource
	if methods, known := connectMethods[sub]; known && !slices.Contains(methods, rq.r.Method) {
		rq.fail(methodNotAllowed(rq.s, rq.info.Verb))
		return
	}
	ctx := rq.r.Context()
	obj, err := rq.s.Get(ctx, rq.info.Namespace, rq.info.Name)
	if err != nil {
		rq.fail(err)
		return
	}
	rec := &writeTracker{ResponseWriter: rq.w}
	if err := rq.h.connector.Connect(ctx, rec, rq.r, obj, sub); err != nil && !rec.wrote {
		rq.fail(err)
	}
}

// writeTracker records whether a response was started. It passes Flush
// and Hijack through for streamed logs and upgraded streams.
type writeTracker struct {
	http.ResponseWriter
	wrote bool
}

// WriteHeader records that the response started.
func (t *writeTracker) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

// Write records that the response started.
func (t *writeTracker) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Hijack,
// Flush).
func (t *writeTracker) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// Flush flushes buffered data to the client.
func (t *writeTracker) Flush() {
	t.wrote = true
	_ = http.NewResponseController(t.ResponseWriter).Flush()
}
