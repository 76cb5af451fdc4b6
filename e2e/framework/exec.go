package framework

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
)

// ExecOptions describe a command run in a container with Exec.
type ExecOptions struct {
	// Pod and Container name the container (in the spec's namespace).
	Pod, Container string
	// Command is the command and its arguments (the test image has no
	// shell: "/testapp", "env").
	Command []string
	// Stdin, when not nil, is streamed to the command's standard input.
	Stdin io.Reader
}

// Exec runs a command in a container through the API server's pods/exec,
// as kubectl does: over WebSocket (the v5 channel protocol), falling back
// to SPDY when the server or a proxy cannot upgrade to WebSocket. It
// returns the command's standard output and error; a command that exits
// non-zero gives an error that is a k8s.io/client-go/util/exec.ExitError.
func (f *Framework) Exec(ctx context.Context, o ExecOptions) (stdout, stderr string, err error) {
	req := f.Client.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(f.NS()).Name(o.Pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: o.Container,
			Command:   o.Command,
			Stdin:     o.Stdin != nil,
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(f.Config, http.MethodPost, req.URL())
	if err != nil {
		return "", "", fmt.Errorf("spdy executor: %w", err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(f.Config, http.MethodGet, req.URL().String())
	if err != nil {
		return "", "", fmt.Errorf("websocket executor: %w", err)
	}
	// client-go's executors report upgrade failures with k8s.io/streaming's
	// error types (apimachinery's httpstream would never match them).
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return "", "", fmt.Errorf("fallback executor: %w", err)
	}
	var out, errOut bytes.Buffer
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: o.Stdin, Stdout: &out, Stderr: &errOut})
	Logf("exec %v in %s/%s/%s: err=%v stdout=%q stderr=%q", o.Command, f.NS(), o.Pod, o.Container, err, out.String(), errOut.String())
	return out.String(), errOut.String(), err
}

// Logs returns the log of a container of a pod in the spec's namespace.
func (f *Framework) Logs(ctx context.Context, pod string, opts *corev1.PodLogOptions) (string, error) {
	b, err := f.Client.CoreV1().Pods(f.NS()).GetLogs(pod, opts).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of %s/%s container %q: %w", f.NS(), pod, opts.Container, err)
	}
	return string(b), nil
}
