package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The control protocol is HTTP over the unix socket, with JSON bodies:
//
//	GET  /v1/status                          -> []ProgramStatus
//	POST /v1/programs/{name}/start?wait=true -> ProgramStatus
//	POST /v1/programs/{name}/stop            -> ProgramStatus
//	POST /v1/programs/{name}/restart?wait=true
//	GET  /v1/programs/{name}/log?bytes=1600&follow=true -> the log as text
//
// Errors are {"error": "...", "reason": "NOT_RUNNING"} with a 4xx/5xx code.

// controlError is the body of a failed control request.
type controlError struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// errorReasons maps the control errors to their wire reasons and codes.
var errorReasons = []struct {
	err    error
	reason string
	code   int
}{
	{ErrNoSuchProgram, "NO_SUCH_PROCESS", http.StatusNotFound},
	{ErrAlreadyStarted, "ALREADY_STARTED", http.StatusConflict},
	{ErrNotRunning, "NOT_RUNNING", http.StatusConflict},
	{ErrStopping, "STILL_STOPPING", http.StatusConflict},
	{ErrSpawn, "SPAWN_ERROR", http.StatusInternalServerError},
	{ErrAbnormalTermination, "ABNORMAL_TERMINATION", http.StatusInternalServerError},
}

// controlServer serves the control socket.
type controlServer struct {
	srv    *http.Server
	cancel context.CancelFunc
	done   chan struct{}
}

// serveControl listens on the unix socket at path, replacing a stale one.
func (s *Supervisor) serveControl(path string) (*controlServer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
			conn.Close()
			return nil, fmt.Errorf("control socket %s: another supervisor is listening on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket: remove stale %s: %w", path, err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cs := &controlServer{cancel: cancel, done: make(chan struct{}),
		srv: &http.Server{Handler: s.controlHandler(), BaseContext: func(net.Listener) context.Context { return ctx }}}
	go func() {
		defer close(cs.done)
		if err := cs.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("control socket", "err", err)
		}
	}()
	return cs, nil
}

// close ends every request (log followers too) and the listener.
func (cs *controlServer) close() {
	cs.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := cs.srv.Shutdown(ctx); err != nil {
		_ = cs.srv.Close()
	}
	<-cs.done
}

func (s *Supervisor) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Status())
	})
	mux.HandleFunc("POST /v1/programs/{name}/{action}", s.serveAction)
	mux.HandleFunc("GET /v1/programs/{name}/log", s.serveLog)
	return mux
}

func (s *Supervisor) serveAction(w http.ResponseWriter, r *http.Request) {
	name, wait := r.PathValue("name"), r.URL.Query().Get("wait") != "false"
	var err error
	switch r.PathValue("action") {
	case "start":
		err = s.Start(r.Context(), name, wait)
	case "stop":
		err = s.Stop(r.Context(), name)
	case "restart":
		err = s.Restart(r.Context(), name, wait)
	default:
		writeJSON(w, http.StatusNotFound, controlError{Error: "unknown action " + r.PathValue("action"), Reason: "BAD_REQUEST"})
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.byName[name].status(time.Now()))
}

func (s *Supervisor) serveLog(w http.ResponseWriter, r *http.Request) {
	lf, err := s.Log(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	n := int64(1600) // supervisorctl's tail
	if v := r.URL.Query().Get("bytes"); v != "" {
		if n, err = strconv.ParseInt(v, 10, 64); err != nil {
			writeJSON(w, http.StatusBadRequest, controlError{Error: "bytes: " + err.Error(), Reason: "BAD_REQUEST"})
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.URL.Query().Get("follow") != "true" {
		_, _ = lf.Tail(w, n)
		return
	}
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	_ = lf.Follow(r.Context().Done(), w, n, flush)
}

func writeError(w http.ResponseWriter, err error) {
	for _, e := range errorReasons {
		if errors.Is(err, e.err) {
			writeJSON(w, e.code, controlError{Error: err.Error(), Reason: e.reason})
			return
		}
	}
	writeJSON(w, http.StatusInternalServerError, controlError{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
