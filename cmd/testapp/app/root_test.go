package app

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// run executes testapp with args and returns its stdout and error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}

func TestSubcommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TESTAPP_ENV", "v1")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{name: "exit 0", args: []string{"exit"}, wantCode: 0, wantOut: "exiting with code 0"},
		{name: "exit 3 after delay", args: []string{"exit", "--code", "3", "--after", "10ms"}, wantCode: 3},
		{name: "crash", args: []string{"crash"}, wantCode: 1, wantOut: "crashing"},
		{name: "sleep go duration", args: []string{"sleep", "10ms"}, wantCode: 0},
		{name: "sleep seconds", args: []string{"sleep", "0.01"}, wantCode: 0},
		{name: "sleep bad", args: []string{"sleep", "soon"}, wantCode: -1},
		{name: "write-file", args: []string{"write-file", filepath.Join(dir, "out"), "data"}, wantCode: 0, wantOut: "wrote 4 bytes"},
		{name: "write-file bad dir", args: []string{"write-file", filepath.Join(dir, "no", "such", "x"), "data"}, wantCode: -1},
		{name: "env", args: []string{"env"}, wantCode: 0, wantOut: "TESTAPP_ENV=v1\n"},
		{name: "exists yes", args: []string{"exists", dir}, wantCode: 0},
		{name: "exists no", args: []string{"exists", filepath.Join(dir, "missing")}, wantCode: 1},
		{name: "serve-hostname http+tcp conflict", args: []string{"serve-hostname", "--tcp"}, wantCode: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.args...)
			if got := exitCode(err); got != tc.wantCode {
				t.Fatalf("exit code %d (err %v), want %d; output %q", got, err, tc.wantCode, out)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("output %q lacks %q", out, tc.wantOut)
			}
		})
	}
	b, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil || string(b) != "data" {
		t.Errorf("write-file wrote %q, %v", b, err)
	}
	out, err := run(t, "cat", filepath.Join(dir, "out"))
	if err != nil || out != "data" {
		t.Errorf("cat: %q, %v", out, err)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"1m30s", 90 * time.Second, false},
		{"5", 5 * time.Second, false},
		{"0.5", 500 * time.Millisecond, false},
		{"-1", 0, true},
		{"x", 0, true},
	}
	for _, tc := range tests {
		got, err := parseDuration(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
