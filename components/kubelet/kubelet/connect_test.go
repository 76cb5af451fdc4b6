package kubelet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critest "k8s.io/cri-api/pkg/apis/testing"
	"k8s.io/cri-streaming/pkg/streaming"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
)

// streamingRuntime is a fake CRI whose Exec and Attach hand out URLs of
// a real CRI streaming server (as containerd's), so exec runs the real
// SPDY and websocket protocols end to end, and whose containers log to
// logPath.
type streamingRuntime struct {
	*critest.FakeRuntimeService
	srv     streaming.Server
	logPath string
}

func (r *streamingRuntime) ContainerStatus(ctx context.Context, id string, verbose bool) (*runtimeapi.ContainerStatusResponse, error) {
	resp, err := r.FakeRuntimeService.ContainerStatus(ctx, id, verbose)
	if err == nil {
		resp.Status.LogPath = r.logPath
	}
	return resp, err
}

func (r *streamingRuntime) Exec(_ context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	return r.srv.GetExec(req)
}

func (r *streamingRuntime) Attach(_ context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return r.srv.GetAttach(req)
}

// echoExec answers exec with "ran <cmd>: <stdin>" on stdout.
type echoExec struct{}

func (echoExec) Exec(_ context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, _ bool, _ <-chan remotecommandserver.TerminalSize) error {
	var input []byte
	if in != nil {
		input, _ = io.ReadAll(in)
	}
	fmt.Fprintf(out, "ran %s: %s", strings.Join(cmd, " "), input)
	fmt.Fprint(errw, "to stderr")
	return nil
}

func (echoExec) Attach(context.Context, string, io.Reader, io.WriteCloser, io.WriteCloser, bool, <-chan remotecommandserver.TerminalSize) error {
	return nil
}

func (echoExec) PortForward(context.Context, string, int32, io.ReadWriteCloser) error { return nil }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestLogsAndExecThroughTheAPIServer reads a container's log and runs an
// exec session as kubectl does: client-go against the API server, which
// proxies pods/log and pods/exec to the kubelet's HTTPS API with its
// kubelet client certificate, which serves logs from the CRI log file and
// proxies exec to the runtime's streaming server.
func TestLogsAndExecThroughTheAPIServer(t *testing.T) {
	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers, o.NoScheduler = []string{}, true })
	fake := critest.NewFakeRuntimeService()
	fake.FakeStatus = &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true}, {Type: runtimeapi.NetworkReady, Status: true}}}
	cfg := streaming.DefaultConfig
	ts := httptest.NewUnstartedServer(nil)
	cfg.Addr = ts.Listener.Addr().String()
	cfg.BaseURL = &url.URL{Scheme: "http", Host: cfg.Addr}
	srv, err := streaming.NewServer(cfg, echoExec{})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	ts.Start()
	defer ts.Close()
	// The runtime writes CRI-format log lines.
	logFile := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(logFile, []byte("2026-01-01T00:00:00.000000001Z stdout F first line\n"+
		"2026-01-01T00:00:01.000000001Z stderr F second line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rt := &streamingRuntime{FakeRuntimeService: fake, srv: srv, logPath: logFile}
	port := freePort(t)
	startFakeNode(t, cp, "conn-node", rt, nil, func(c *Config) {
		c.Server = &ServerConfig{Address: "127.0.0.1", Port: port, ClientCAFile: filepath.Join(cp.DataDir, "pki", "ca.crt")}
		c.CNIConfDir = "" // no podCIDR needed: the fake network is ready
	})
	ctx := t.Context()
	client := cp.Client
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "conn-node", Containers: []corev1.Container{
			{Name: "c", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, client, "default", "p", corev1.PodRunning)

	t.Run("logs", func(t *testing.T) {
		for _, tc := range []struct {
			opts corev1.PodLogOptions
			want string
		}{
			{corev1.PodLogOptions{}, "first line\nsecond line\n"},
			{corev1.PodLogOptions{TailLines: ptr(int64(1))}, "second line\n"},
			{corev1.PodLogOptions{Timestamps: true, TailLines: ptr(int64(1))}, "2026-01-01T00:00:01.000000001Z second line\n"},
		} {
			got, err := client.CoreV1().Pods("default").GetLogs("p", &tc.opts).DoRaw(ctx)
			if err != nil || string(got) != tc.want {
				t.Errorf("logs %+v = %q, %v; want %q", tc.opts, got, err, tc.want)
			}
		}
		// Errors reach the client as Status messages (kubectl logs streams).
		for _, tc := range []struct {
			opts corev1.PodLogOptions
			want string
		}{
			{corev1.PodLogOptions{Container: "nope"}, "container nope is not valid for pod p"},
			{corev1.PodLogOptions{Previous: true}, `previous terminated container "c" in pod "p" not found`},
		} {
			_, err := client.CoreV1().Pods("default").GetLogs("p", &tc.opts).Stream(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("logs %+v: err %v, want %q", tc.opts, err, tc.want)
			}
		}
	})

	t.Run("exec", func(t *testing.T) {
		req := client.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("p").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "c", Command: []string{"echo", "hi"}, Stdin: true, Stdout: true, Stderr: true},
				scheme.ParameterCodec)
		spdy, err := remotecommand.NewSPDYExecutor(cp.Config, "POST", req.URL())
		if err != nil {
			t.Fatal(err)
		}
		ws, err := remotecommand.NewWebSocketExecutor(cp.Config, "GET", req.URL().String())
		if err != nil {
			t.Fatal(err)
		}
		// kubectl's executor: websockets first, SPDY when the upgrade fails.
		exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err = exec.StreamWithContext(sctx, remotecommand.StreamOptions{Stdin: strings.NewReader("input"), Stdout: &stdout, Stderr: &stderr})
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		if stdout.String() != "ran echo hi: input" || stderr.String() != "to stderr" {
			t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
		}
	})
}

func ptr[T any](v T) *T { return &v }
