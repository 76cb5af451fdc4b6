package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/kubelab/kubelab/components/supervisor/app"
)

// kindWaitsFor is the regexp kind v0.33 matches against a node's log
// before it goes on (pkg/cluster/internal/providers/common).
var kindWaitsFor = regexp.MustCompile(`Reached target .*Multi-User System.*|detected cgroup v1`)

func TestReadyLine(t *testing.T) {
	for _, programs := range [][]string{nil, {"containerd"}, {"containerd", "kubelet"}} {
		line := app.ReadyLine(programs)
		if !kindWaitsFor.MatchString(line) {
			t.Errorf("kind would not see %q", line)
		}
	}
	if got := app.ReadyLine([]string{"containerd"}); got != "Reached target Multi-User System (kubelab node-supervisor: containerd is running)." {
		t.Errorf("ready line %q", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"never", []string{"--prepare-node=never", "--skip-node-step=cgroups,kmsg"}, ""},
		{"mode", []string{"--prepare-node=sometimes"}, "--prepare-node must be auto, always or never"},
		{"step", []string{"--skip-node-step=cgroup"}, `--skip-node-step: unknown step "cgroup"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := app.NewOptions()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddGlobalFlags(fs)
			o.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := o.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// execute runs the command with args and returns its output.
func execute(ctx context.Context, args ...string) (string, error) {
	cmd := app.NewCommand(ctx)
	var out syncBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunCtlAndSIGTERM runs node-supervisor as main does (SIGTERM ends
// its context), drives it with ctl, and sends the test process SIGTERM:
// the programs stop and the command returns nil (exit 0).
func TestRunCtlAndSIGTERM(t *testing.T) {
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "nsv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	config := filepath.Join(dir, "supervisor.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`
socket: %s/s.sock
log_dir: %s/log
programs:
- name: runtime
  command: [sh, -c, 'echo runtime up; touch %[2]s/serving; exec sleep 60']
  priority: 1
  startsecs: 0.1
  running_when: [{file: %[2]s/serving}]
  ready: true
- name: agent
  command: [sh, -c, 'echo agent $$; exec sleep 60']
  priority: 2
  startsecs: 0.1
  depends_on: [runtime]
`, sockDir, dir)), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cmd := app.NewCommand(ctx)
	var stdout syncBuffer
	cmd.SetOut(&stdout)
	cmd.SetArgs([]string{"--config", config, "--prepare-node=never"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	eventually(t, "ready line", func() error {
		if !kindWaitsFor.MatchString(stdout.String()) {
			return fmt.Errorf("stdout %q", stdout.String())
		}
		return nil
	})
	if got, want := stdout.String(), app.ReadyLine([]string{"runtime"})+"\n"; got != want {
		t.Errorf("stdout %q, want exactly %q", got, want)
	}

	var status string
	eventually(t, "ctl status: all RUNNING", func() error {
		status, err = execute(t.Context(), "ctl", "--config", config, "status")
		return err
	})
	statusLine := regexp.MustCompile(`(?m)^runtime {26}RUNNING {4}pid \d+, uptime 0:00:0\d$`)
	if !statusLine.MatchString(status) || !strings.Contains(status, "\nagent ") {
		t.Errorf("status:\n%q", status)
	}
	agentPID := func() string {
		out, _ := execute(t.Context(), "ctl", "--config", config, "status", "agent")
		return regexp.MustCompile(`pid (\d+)`).FindString(out)
	}
	before := agentPID()

	for _, tt := range []struct {
		args    []string
		want    string
		wantErr bool
	}{
		{[]string{"stop", "agent"}, "agent: stopped\n", false},
		{[]string{"stop", "agent"}, "agent: ERROR (not running)\n", true},
		{[]string{"status", "agent"}, "STOPPED", true},
		{[]string{"start", "agent"}, "agent: started\n", false},
		{[]string{"start", "agent", "nope"}, "agent: ERROR (already started)\nnope: ERROR (no such process)\n", true},
		{[]string{"restart", "all"}, "runtime: stopped\nruntime: started\nagent: stopped\nagent: started\n", false},
		{[]string{"tail", "agent"}, "agent ", false},
		{[]string{"tail", "nope"}, "nope: ERROR (no such process)\n", true},
	} {
		out, err := execute(t.Context(), append([]string{"ctl", "--socket", sockDir + "/s.sock"}, tt.args...)...)
		if (err != nil) != tt.wantErr || !strings.Contains(out, tt.want) {
			t.Errorf("ctl %v: %q (err %v), want %q (error %t)", tt.args, out, err, tt.want, tt.wantErr)
		}
	}
	if after := agentPID(); after == before || after == "" {
		t.Errorf("agent %q not restarted (was %q)", after, before)
	}
	pids := regexp.MustCompile(`pid (\d+)`).FindAllStringSubmatch(must(execute(t.Context(), "ctl", "--config", config, "status")), -1)
	if len(pids) != 2 {
		t.Fatalf("pids %v", pids)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("node-supervisor returned %v after SIGTERM, want nil (exit 0)", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("node-supervisor did not return after SIGTERM")
	}
	for _, m := range pids {
		var pid int
		fmt.Sscan(m[1], &pid)
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("program pid %d survived SIGTERM: %v", pid, err)
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log", "runtime.log"))
	if strings.Count(string(log), "runtime up\n") != 2 {
		t.Errorf("runtime.log %q, want two starts", log)
	}
}

func must(s string, _ error) string { return s }

func TestValidateCommand(t *testing.T) {
	out, err := execute(t.Context(), "validate", "--config", "../testdata/node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "../testdata/node.yaml: ok (socket /run/kubelab/supervisor.sock)") ||
		strings.Index(out, "containerd") > strings.Index(out, "kubelet") {
		t.Errorf("validate:\n%s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("programs:\n- name: x\n  comand: [y]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = execute(t.Context(), "validate", "--config", bad)
	if err == nil || !strings.Contains(err.Error(), "line 3: field comand not found") {
		t.Errorf("bad config: %v", err)
	}
	_, err = execute(t.Context(), "--config", bad, "--prepare-node=never")
	if err == nil || !strings.Contains(err.Error(), "field comand not found") {
		t.Errorf("run with a bad config: %v", err)
	}
}
