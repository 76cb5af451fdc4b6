package server

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"k8s.io/cri-client/pkg/logs"
)

// logs streams a container's log as upstream's /containerLogs: tailLines,
// limitBytes, sinceSeconds or sinceTime, timestamps, follow and previous.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := &logs.LogOptions{Follow: boolParam(q, "follow"), Timestamp: boolParam(q, "timestamps")}
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			status(w, http.StatusBadRequest, "tailLines %q: must be a non-negative integer", v)
			return
		}
		opts.TailLines = &n
	}
	if v := q.Get("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			status(w, http.StatusBadRequest, "limitBytes %q: must be a positive integer", v)
			return
		}
		opts.LimitBytes = &n
	}
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			status(w, http.StatusBadRequest, "sinceSeconds %q: must be a positive integer", v)
			return
		}
		opts.Since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			status(w, http.StatusBadRequest, "sinceTime %q: %v", v, err)
			return
		}
		opts.Since = t
	}
	_, c, ok := s.target(w, r, boolParam(q, "previous"))
	if !ok {
		return
	}
	if c.LogPath == "" {
		status(w, http.StatusNotFound, "container %s has no log file", c.Name)
		return
	}
	if !c.Running() {
		opts.Follow = false
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	fw := &flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok {
		fw.f = f
	}
	if err := logs.ReadLogs(r.Context(), c.LogPath, c.ID, opts, s.cfg.Runtime, fw, fw); err != nil && r.Context().Err() == nil {
		s.log.Debug("read logs", "container", c.ID, "err", err)
	}
}

// flushWriter flushes after every write (followed logs arrive at once)
// and serializes stdout and stderr.
type flushWriter struct {
	mu sync.Mutex
	w  io.Writer
	f  http.Flusher
}

// Write writes p and flushes it.
func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	if f.f != nil {
		f.f.Flush()
	}
	return n, err
}
