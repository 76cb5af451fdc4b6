package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// runSplit executes testapp with args and returns its stdout, stderr and
// exit code (-1: an error that is no ExitError, such as bad usage).
func runSplit(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := NewCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), exitCode(err)
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T, network string) string {
	t.Helper()
	switch network {
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	default:
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		return addr
	}
}

func TestHTTPGet(t *testing.T) {
	var mu sync.Mutex
	conns, requests := 0, 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		n := requests
		mu.Unlock()
		if r.URL.Path == "/flaky" && n == 2 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "answer-%d\n", n)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	reset := func() {
		mu.Lock()
		conns, requests = 0, 0
		mu.Unlock()
	}

	t.Run("count requests, one connection each", func(t *testing.T) {
		reset()
		out, errOut, code := runSplit(t, "http-get", "--count", "3", srv.URL+"/hostname")
		if code != 0 {
			t.Fatalf("exit code %d, stderr %q", code, errOut)
		}
		if out != "answer-1\nanswer-2\nanswer-3\n" {
			t.Errorf("stdout %q", out)
		}
		mu.Lock()
		defer mu.Unlock()
		if conns != 3 {
			t.Errorf("%d connections for 3 requests, want a new one each", conns)
		}
	})

	t.Run("a failed request is reported, the others printed", func(t *testing.T) {
		reset()
		out, errOut, code := runSplit(t, "http-get", "--count", "3", srv.URL+"/flaky")
		if code != 1 {
			t.Fatalf("exit code %d, want 1", code)
		}
		if out != "answer-1\nanswer-3\n" {
			t.Errorf("stdout %q", out)
		}
		for _, want := range []string{"request 2: status 500 Internal Server Error", "boom", "1 of 3 requests failed"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr %q lacks %q", errOut, want)
			}
		}
	})

	t.Run("nothing listening", func(t *testing.T) {
		_, errOut, code := runSplit(t, "http-get", "http://"+closedPort(t, "tcp")+"/")
		if code != 1 || !strings.Contains(errOut, "connection refused") {
			t.Errorf("exit code %d, stderr %q; want 1 and connection refused", code, errOut)
		}
	})

	for _, args := range [][]string{
		{"http-get", "not a url"},
		{"http-get", "ftp://host/x"},
		{"http-get", "--count", "0", srv.URL},
		{"http-get"},
	} {
		if _, _, code := runSplit(t, args...); code != -1 {
			t.Errorf("%q: exit code %d, want a usage error", args, code)
		}
	}
}

func TestUDPRequest(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serveUDPConn(ctx, pc, udpReply("pod-a")) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveUDPConn: %v", err)
		}
	}()
	addr := pc.LocalAddr().String()

	out, errOut, code := runSplit(t, "udp-request", "--count", "2", addr, "hostname")
	if code != 0 || out != "pod-a\npod-a\n" {
		t.Errorf("hostname: exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _, code = runSplit(t, "udp-request", addr, "echo hi there")
	if code != 0 || out != "hi there\n" {
		t.Errorf("echo: exit code %d, stdout %q", code, out)
	}

	// Each datagram leaves from a new socket: the server sees two ports.
	out, _, code = runSplit(t, "udp-request", "--count", "2", addr, "clientip")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || lines[0] == lines[1] {
		t.Errorf("clientip twice: exit code %d, answers %q; want two different source addresses", code, lines)
	}

	t.Run("no server: the ICMP error is reported", func(t *testing.T) {
		_, errOut, code := runSplit(t, "udp-request", closedPort(t, "udp"), "hostname")
		if code != 1 || !strings.Contains(errOut, "datagram 1: receive:") || !strings.Contains(errOut, "connection refused") {
			t.Errorf("exit code %d, stderr %q", code, errOut)
		}
	})

	t.Run("no answer within the timeout", func(t *testing.T) {
		silent, err := net.ListenPacket("udp", "127.0.0.1:0") // never reads
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		_, errOut, code := runSplit(t, "udp-request", "--timeout", "100ms", silent.LocalAddr().String(), "hostname")
		if code != 1 || !strings.Contains(errOut, "i/o timeout") {
			t.Errorf("exit code %d, stderr %q; want 1 and a timeout", code, errOut)
		}
	})

	for _, args := range [][]string{{"udp-request", "no-port", "x"}, {"udp-request", addr}, {"udp-request", "--count", "-1", addr, "x"}} {
		if _, _, code := runSplit(t, args...); code != -1 {
			t.Errorf("%q: exit code %d, want a usage error", args, code)
		}
	}
}

func TestConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	out, _, code := runSplit(t, "connect", ln.Addr().String())
	if code != 0 || !strings.HasPrefix(out, "connected after ") {
		t.Errorf("listening port: exit code %d, stdout %q", code, out)
	}
	out, _, code = runSplit(t, "connect", closedPort(t, "tcp"))
	if code != connectRefused || !strings.HasPrefix(out, "refused after ") || !strings.Contains(out, "connection refused") {
		t.Errorf("closed port: exit code %d, stdout %q; want %d and refused", code, out, connectRefused)
	}
	if _, _, code := runSplit(t, "connect", "no-port"); code != -1 {
		t.Errorf("bad address: exit code %d, want a usage error", code)
	}
}

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassifyDial(t *testing.T) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	tests := []struct {
		err      error
		word     string
		wantCode int
	}{
		{nil, "connected", connectOK},
		{opErr(syscall.ECONNREFUSED), "refused", connectRefused},
		{&net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}, "timeout", connectTimeout},
		{opErr(syscall.ETIMEDOUT), "timeout", connectTimeout},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), "timeout", connectTimeout},
		{opErr(syscall.EHOSTUNREACH), "unreachable", connectUnreachable},
		{opErr(syscall.ENETUNREACH), "unreachable", connectUnreachable},
		{io.EOF, "error", connectOther},
		{errors.New("lookup nowhere: no such host"), "error", connectOther},
	}
	for _, tc := range tests {
		word, code := classifyDial(tc.err)
		if diff := cmp.Diff([2]any{tc.word, tc.wantCode}, [2]any{word, code}); diff != "" {
			t.Errorf("classifyDial(%v) (-want +got):\n%s", tc.err, diff)
		}
	}
}
