package server

import (
	"bufio"
	"net"
	"net/http"
)

// responseRecorder remembers the status code and body size of a response
// for the metrics and the access log, and whether anything was written, for
// panic recovery. It passes Flush and Hijack through (watches must flush
// every event; exec and port-forward upgrade the connection) and unwraps
// for http.ResponseController.
type responseRecorder struct {
	http.ResponseWriter
	status   int // 0 until the header is written
	written  int64
	hijacked bool
}

var (
	_ http.Flusher  = (*responseRecorder)(nil)
	_ http.Hijacker = (*responseRecorder)(nil)
)

// recorderFor returns w if it is a responseRecorder, else wraps it.
func recorderFor(w http.ResponseWriter) *responseRecorder {
	if rec, ok := w.(*responseRecorder); ok {
		return rec
	}
	return &responseRecorder{ResponseWriter: w}
}

// WriteHeader records the first final status code and passes code on.
func (rw *responseRecorder) WriteHeader(code int) {
	if rw.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

// Write writes b, sending a 200 header first if none was written.
func (rw *responseRecorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.written += int64(n)
	return n, err
}

// Flush sends buffered data to the client.
func (rw *responseRecorder) Flush() { _ = rw.FlushError() }

// FlushError sends buffered data to the client, sending a 200 header first
// if none was written, and reports failure.
func (rw *responseRecorder) FlushError() error {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(rw.ResponseWriter).Flush()
}

// Hijack takes over the connection (HTTP/1.1 only).
func (rw *responseRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(rw.ResponseWriter).Hijack()
	if err == nil {
		rw.hijacked = true
	}
	return conn, brw, err
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (rw *responseRecorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// wroteHeader reports whether a final status was sent (or the connection
// was taken over), after which an error can no longer be written.
func (rw *responseRecorder) wroteHeader() bool { return rw.status != 0 || rw.hijacked }

// code is the status code the client got (or will get, once the handler
// returns without writing: 200). A hijacked connection counts as 101.
func (rw *responseRecorder) code() int {
	switch {
	case rw.hijacked:
		return http.StatusSwitchingProtocols
	case rw.status == 0:
		return http.StatusOK
	}
	return rw.status
}
