// Package prober runs containers' liveness, readiness and startup probes
// (exec through the runtime's ExecSync, httpGet, tcpSocket and grpc against
// the pod IP) on their schedule, and keeps each container's results for
// the pod status and the restart decisions.
package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilexec "k8s.io/utils/exec"
)

// Result is a probe's outcome.
type Result int

const (
	// Unknown is a probe that has not decided yet.
	Unknown Result = iota
	// Success is a passing probe.
	Success
	// Failure is a failing probe.
	Failure
)

// String names the result.
func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Failure:
		return "failure"
	}
	return "unknown"
}

// Execer runs a command in a container (the CRI's ExecSync).
type Execer interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) ([]byte, []byte, error)
}

// Target is the container a probe checks.
type Target struct {
	Pod         *corev1.Pod
	Container   *corev1.Container
	ContainerID string
	PodIP       string
}

// maxBody is how much of an HTTP probe's response is read.
const maxBody = 10 << 10

// userAgent is what HTTP probes send, as upstream.
const userAgent = "kube-probe/1.37"

// Runner executes single probes.
type Runner struct {
	Exec Execer
}

// Run executes handler h once against t and returns its result and
// output (for events).
func (r *Runner) Run(ctx context.Context, h *corev1.ProbeHandler, t Target, timeout time.Duration) (Result, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.Exec != nil:
		out, errOut, err := r.Exec.ExecSync(ctx, t.ContainerID, h.Exec.Command, timeout)
		output := string(out) + string(errOut)
		var exit utilexec.ExitError
		switch {
		case err == nil:
			return Success, output
		case errors.As(err, &exit):
			return Failure, output
		}
		return Failure, err.Error()
	case h.HTTPGet != nil:
		return httpProbe(ctx, h.HTTPGet, t, timeout)
	case h.TCPSocket != nil:
		port, err := resolvePort(h.TCPSocket.Port, t.Container)
		if err != nil {
			return Failure, err.Error()
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = t.PodIP
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return Failure, err.Error()
		}
		_ = conn.Close()
		return Success, ""
	case h.GRPC != nil:
		return grpcProbe(ctx, h.GRPC, t)
	}
	return Unknown, "probe has no handler"
}

// httpProbe GETs the probe's URL: a status in [200, 400) passes.
func httpProbe(ctx context.Context, g *corev1.HTTPGetAction, t Target, timeout time.Duration) (Result, string) {
	port, err := resolvePort(g.Port, t.Container)
	if err != nil {
		return Failure, err.Error()
	}
	host := g.Host
	if host == "" {
		host = t.PodIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if p, err := url.Parse(path); err == nil {
		u.Path, u.RawQuery = p.Path, p.RawQuery
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Failure, err.Error()
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes do not verify, as upstream
			DisableKeepAlives: true,
			Proxy:             nil,
		},
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if r.URL.Hostname() != u.Hostname() || len(via) >= 10 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return Failure, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return Success, string(body)
	}
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}

// grpcProbe calls the standard gRPC health service.
func grpcProbe(ctx context.Context, g *corev1.GRPCAction, t Target) (Result, string) {
	conn, err := grpc.NewClient(net.JoinHostPort(t.PodIP, strconv.Itoa(int(g.Port))),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUserAgent(userAgent))
	if err != nil {
		return Failure, err.Error()
	}
	defer conn.Close()
	service := ""
	if g.Service != nil {
		service = *g.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return Failure, err.Error()
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		return Failure, fmt.Sprintf("service unhealthy (responded with %q)", resp.Status)
	}
	return Success, ""
}

// resolvePort turns a port number or a container port name into a number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port number: %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	if c != nil {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort), nil
			}
		}
	}
	return 0, fmt.Errorf("couldn't find port: %v in %v", p.StrVal, c.Name)
}
