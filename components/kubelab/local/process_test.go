package local_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// kubectlPath is the real kubectl the tests drive.
const kubectlPath = "/usr/bin/kubectl"

// readyLine is the line `kubelab local` prints once it serves.
var readyLine = regexp.MustCompile(`^kubelab local is ready at (https://\S+); kubeconfig: (\S+) `)

// buildKubelab builds cmd/kubelab from this module into a temporary
// directory and returns the binary's path.
func buildKubelab(t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD = %q: not inside the module", gomod)
	}
	bin := filepath.Join(t.TempDir(), "kubelab")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/kubelab")
	build.Dir = filepath.Dir(gomod)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kubelab: %v\n%s", err, out)
	}
	return bin
}

// lockedBuffer is a bytes.Buffer safe for a writer and readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// localProcess is a running `kubelab local`.
type localProcess struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	// done is closed when the process has exited; err is then its Wait error.
	done     chan struct{}
	err      error
	waitOnce sync.Once
	// Server is the API server URL and Kubeconfig the file it wrote, both
	// read from the ready line.
	Server     string
	Kubeconfig string
}

// startProcess starts `kubelab local` with args; it does not wait for it to
// be ready. The process is killed when the test ends if still running.
func startProcess(t *testing.T, bin string, args ...string) (*localProcess, io.Reader) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"local"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &localProcess{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kubelab local: %v", err)
	}
	// Wait closes stdout once the process exits, so readers of it read
	// everything first: Wait runs after the caller stops reading (see
	// startLocal) or right away for a process expected to fail.
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			p.wait()
			<-p.done
		}
	})
	return p, stdout
}

// wait reaps the process in the background; later calls do nothing.
func (p *localProcess) wait() {
	p.waitOnce.Do(func() {
		go func() {
			p.err = p.cmd.Wait()
			close(p.done)
		}()
	})
}

// startLocal starts `kubelab local` on dataDir with a free port and waits
// for its ready line.
func startLocal(t *testing.T, bin, dataDir string) *localProcess {
	t.Helper()
	p, stdout := startProcess(t, bin, "--data-dir", dataDir, "--port", "0")
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(90 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				p.wait()
				<-p.done
				t.Fatalf("kubelab local exited before it was ready (%v); stderr:\n%s", p.err, p.stderr)
			}
			m := readyLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			p.Server, p.Kubeconfig = m[1], m[2]
			// Keep draining stdout so the process never blocks on it.
			go func() {
				for range lines {
				}
			}()
			p.wait()
			return p
		case <-deadline:
			t.Fatalf("kubelab local printed no ready line within 90s; stderr:\n%s", p.stderr)
		}
	}
}

// stop interrupts the process and checks that it exits 0 within a few
// seconds.
func (p *localProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupt kubelab local: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("kubelab local did not exit within 10s of SIGINT; stderr:\n%s", p.stderr)
	}
	if p.err != nil {
		t.Fatalf("kubelab local exited with %v after SIGINT; stderr:\n%s", p.err, p.stderr)
	}
}

// runFailing runs `kubelab local` with args, expecting it to exit non-zero
// within timeout, and returns its combined output.
func runFailing(t *testing.T, bin string, timeout time.Duration, args ...string) string {
	t.Helper()
	p, stdout := startProcess(t, bin, args...)
	var out lockedBuffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&out, stdout)
		close(copied)
	}()
	select {
	case <-copied:
	case <-time.After(timeout):
		t.Fatalf("kubelab local %s still runs after %s; it should have failed. stderr:\n%s", strings.Join(args, " "), timeout, p.stderr)
	}
	p.wait()
	<-p.done
	var exit *exec.ExitError
	if !errors.As(p.err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("kubelab local %s: exit %v, want a non-zero exit code", strings.Join(args, " "), p.err)
	}
	return out.String() + p.stderr.String()
}

// kubectl runs the real kubectl against one kubeconfig.
type kubectl struct {
	kubeconfig string
	cacheDir   string
}

// run runs kubectl with args and extra environment, returning its stdout,
// stderr and error.
func (k *kubectl) run(ctx context.Context, env []string, args ...string) (string, string, error) {
	return k.runInput(ctx, env, "", args...)
}

// runInput is run with stdin as kubectl's standard input.
func (k *kubectl) runInput(ctx context.Context, env []string, stdin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlPath, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig, "KUBECACHEDIR="+k.cacheDir)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// ok runs kubectl, failing the test unless it exits 0; it returns stdout.
func (k *kubectl) ok(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, err := k.run(t.Context(), nil, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout
}

// jsonpath returns one field of an object through kubectl get -o jsonpath.
func (k *kubectl) jsonpath(t *testing.T, path string, args ...string) string {
	t.Helper()
	return k.ok(t, append(append([]string{"get"}, args...), "-o", "jsonpath="+path)...)
}

// matchAll fails the test for each pattern out does not match.
func matchAll(t *testing.T, what, out string, patterns []string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("%s: output does not match %q:\n%s", what, p, out)
		}
	}
}
