package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNetexecHandler(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte("content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TESTAPP_MARKER", "yes")
	tests := []struct {
		name       string
		path       string
		wantStatus int
		want       string // exact body, unless wantPrefix or wantJSON is set
		wantPrefix string
		wantJSON   map[string]string
	}{
		{name: "root", path: "/", wantStatus: 200, wantPrefix: "NOW: "},
		{name: "echo", path: "/echo?msg=hello%20world", wantStatus: 200, want: "hello world"},
		{name: "echo empty", path: "/echo", wantStatus: 200, want: ""},
		{name: "hostname", path: "/hostname", wantStatus: 200, want: "pod-a"},
		{name: "clientip", path: "/clientip", wantStatus: 200, want: "192.0.2.1:1234"},
		{name: "healthz", path: "/healthz", wantStatus: 200, want: "ok"},
		{name: "unknown path", path: "/nope", wantStatus: 404, wantPrefix: "404"},
		{name: "shell echo", path: "/shell?cmd=echo+a+b", wantStatus: 200, wantJSON: map[string]string{"output": "a b\n"}},
		{name: "shell hostname", path: "/shell?cmd=hostname", wantStatus: 200, wantJSON: map[string]string{"output": "pod-a\n"}},
		{name: "shell cat", path: "/shell?cmd=cat+" + filepath.Join(dir, "f.txt"), wantStatus: 200, wantJSON: map[string]string{"output": "content\n"}},
		{name: "shell ls", path: "/shell?cmd=ls+" + dir, wantStatus: 200, wantJSON: map[string]string{"output": "f.txt\n"}},
		{name: "shell cat missing", path: "/shell?cmd=cat+" + filepath.Join(dir, "missing"), wantStatus: 417, wantJSON: map[string]string{"output": "", "error": "cat " + filepath.Join(dir, "missing") + ": open " + filepath.Join(dir, "missing") + ": no such file or directory"}},
		{name: "shell refuses programs", path: "/shell?cmd=rm+-rf+/", wantStatus: 417, wantJSON: map[string]string{"output": "", "error": `unsupported command "rm" (builtins: echo, hostname, env, cat, ls)`}},
		{name: "shell empty", path: "/shell", wantStatus: 417, wantJSON: map[string]string{"output": "", "error": "empty command"}},
		{name: "exit bad code", path: "/exit?code=x", wantStatus: 400, wantPrefix: "code must be"},
	}
	h := netexecHandler("pod-a", func(int) { t.Error("exit called") })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, tc.path, nil)
			req.RemoteAddr = "192.0.2.1:1234"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tc.wantStatus, rec.Body.String())
			}
			body := rec.Body.String()
			switch {
			case tc.wantJSON != nil:
				var got map[string]string
				if err := json.Unmarshal([]byte(body), &got); err != nil {
					t.Fatalf("body %q is not JSON: %v", body, err)
				}
				if len(got) != len(tc.wantJSON) {
					t.Fatalf("got %v, want %v", got, tc.wantJSON)
				}
				for k, v := range tc.wantJSON {
					if got[k] != v {
						t.Errorf("%s = %q, want %q", k, got[k], v)
					}
				}
			case tc.wantPrefix != "":
				if !strings.HasPrefix(body, tc.wantPrefix) {
					t.Errorf("body %q, want prefix %q", body, tc.wantPrefix)
				}
			default:
				if body != tc.want {
					t.Errorf("body %q, want %q", body, tc.want)
				}
			}
		})
	}
}

func TestNetexecShellEnv(t *testing.T) {
	t.Setenv("TESTAPP_MARKER", "yes")
	out, err := runBuiltin("env", "h")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "TESTAPP_MARKER=yes\n") {
		t.Errorf("env output lacks TESTAPP_MARKER=yes: %q", out)
	}
}

func TestNetexecExit(t *testing.T) {
	codes := make(chan int, 1)
	h := netexecHandler("h", func(code int) { codes <- code })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/exit?code=3", nil))
	if rec.Code != 200 || rec.Body.String() != "exiting with code 3" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
	select {
	case c := <-codes:
		if c != 3 {
			t.Errorf("exit code %d, want 3", c)
		}
	default:
		t.Fatal("exit not called")
	}
}

func TestUDPReply(t *testing.T) {
	from := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5555}
	tests := []struct{ in, want string }{
		{"hostname", "pod-a"},
		{"hostname\n", "pod-a"},
		{"echo hi there", "hi there"},
		{"clientip", "192.0.2.7:5555"},
		{"bogus", "unknown command: bogus"},
	}
	reply := udpReply("pod-a")
	for _, tc := range tests {
		if got := reply(tc.in, from); got != tc.want {
			t.Errorf("reply(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestServeUDPConn runs the UDP server on loopback and exchanges one datagram.
func TestServeUDPConn(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serveUDPConn(ctx, pc, udpReply("pod-a")) }()
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("echo ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != "ping" {
		t.Errorf("got %q, want ping", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serveUDPConn after cancel: %v", err)
	}
}

// TestServeHTTPListener serves the hostname handler on loopback and shuts
// down when the context ends.
func TestServeHTTPListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serveHTTPListener(ctx, ln, hostnameHandler("pod-b")) }()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+ln.Addr().String()+"/anything", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "pod-b" {
		t.Errorf("body %q, want pod-b", body)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("serveHTTPListener: %v", err)
	}
}
