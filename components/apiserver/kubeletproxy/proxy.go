// Package kubeletproxy serves the pods' connect subresources by proxying
// them to the pod's kubelet, as upstream's API server: pods/log streams
// /containerLogs, and pods/exec, pods/attach and pods/portforward hand
// their upgraded (SPDY or websocket) connection to /exec, /attach and
// /portForward. The kubelet is found through the pod's node: its address
// of the preferred type and its kubelet endpoint port. The API server
// authenticates to kubelets with its kubelet client certificate.
package kubeletproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubelab/kubelab/components/apiserver/endpoints"
)

// Getter reads an object from storage (the nodes' store).
type Getter interface {
	Get(ctx context.Context, ns, name string) (runtime.Object, error)
}

// Config configures the proxy.
type Config struct {
	// Nodes reads Node objects.
	Nodes Getter
	// ClientCertFile and ClientKeyFile authenticate the API server to
	// kubelets (--kubelet-client-certificate, --kubelet-client-key).
	ClientCertFile, ClientKeyFile string
	// CAFile verifies kubelets' serving certificates
	// (--kubelet-certificate-authority); without it they are not verified,
	// as upstream's default.
	CAFile string
	// PreferredAddressTypes orders the node addresses tried
	// (InternalIP, Hostname, ExternalIP by default).
	PreferredAddressTypes []corev1.NodeAddressType
	// DialTimeout bounds connecting to a kubelet (10s).
	DialTimeout time.Duration
}

// Proxy is the pods' connect subresources.
type Proxy struct {
	cfg       Config
	transport *http.Transport
}

var _ endpoints.Connector = (*Proxy)(nil)

// New returns the proxy; it fails when the certificates cannot be read.
func New(cfg Config) (*Proxy, error) {
	if len(cfg.PreferredAddressTypes) == 0 {
		cfg.PreferredAddressTypes = []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeHostName, corev1.NodeExternalIP}
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if cfg.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertFile, cfg.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("kubelet client certificate: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kubelet certificate authority: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kubelet certificate authority %s holds no certificate", cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	} else {
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // upstream's default without --kubelet-certificate-authority
	}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	return &Proxy{cfg: cfg, transport: &http.Transport{
		DialContext: dialer.DialContext, TLSClientConfig: tlsCfg, TLSHandshakeTimeout: cfg.DialTimeout,
		// Upgraded streams need HTTP/1.1.
		ForceAttemptHTTP2: false, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second,
	}}, nil
}

// Serves reports whether sub of gr is a subresource the proxy serves.
func (p *Proxy) Serves(gr schema.GroupResource, sub string) bool {
	if gr.Group != "" || gr.Resource != "pods" {
		return false
	}
	switch sub {
	case "log", "exec", "attach", "portforward":
		return true
	}
	return false
}

// Connect proxies one request for subresource sub of pod obj.
func (p *Proxy) Connect(ctx context.Context, w http.ResponseWriter, r *http.Request, obj runtime.Object, sub string) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("connect %s: not a pod: %T", sub, obj))
	}
	loc, err := p.location(ctx, pod, sub, r.URL.Query())
	if err != nil {
		return err
	}
	if sub == "log" {
		return p.streamLogs(ctx, w, r, loc)
	}
	p.upgrade(w, r, loc)
	return nil
}

// streamLogs GETs the kubelet's log stream and copies it to the client
// as it comes; a kubelet error becomes the client's error.
func (p *Proxy) streamLogs(ctx context.Context, w http.ResponseWriter, r *http.Request, loc *url.URL) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("get logs from the kubelet at %s: %v", loc.Host, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return kubeletError(resp)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32*1024)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
			_ = rc.Flush()
		}
		if err != nil {
			return nil
		}
	}
}

// kubeletError turns a kubelet's error response into an API error: its
// Status when it sent one, else one with its code and text.
func kubeletError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" && st.Message != "" {
		if st.Code == 0 {
			st.Code = int32(resp.StatusCode)
		}
		return &apierrors.StatusError{ErrStatus: st}
	}
	msg := string(body)
	if msg == "" {
		msg = resp.Status
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "get", schema.GroupResource{Resource: "pods"}, "", msg, 0, false)
}

// upgrade proxies an upgrading request (exec, attach, port-forward) to
// the kubelet: the client's connection and the kubelet's are joined once
// the kubelet switches protocols; a refused upgrade reaches the client
// as is (kubectl then falls back from websockets to SPDY).
func (p *Proxy) upgrade(w http.ResponseWriter, r *http.Request, loc *url.URL) {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = loc
			pr.Out.Host = loc.Host
			// The client's credentials are for the API server only.
			pr.Out.Header.Del("Authorization")
			for k := range pr.Out.Header {
				if len(k) > 12 && http.CanonicalHeaderKey(k[:12]) == "Impersonate-" {
					pr.Out.Header.Del(k)
				}
			}
		},
		Transport:     p.transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			endpoints.WriteError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("connect to the kubelet at %s: %v", loc.Host, err)))
		},
	}
	rp.ServeHTTP(w, r)
}
