package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kubelab/kubelab/components/kubelet/podruntime"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.logs)
	for _, p := range []string{"/exec/{ns}/{pod}/{container}", "/exec/{ns}/{pod}/{uid}/{container}"} {
		mux.HandleFunc(p, s.exec)
	}
	for _, p := range []string{"/attach/{ns}/{pod}/{container}", "/attach/{ns}/{pod}/{uid}/{container}"} {
		mux.HandleFunc(p, s.attach)
	}
	for _, p := range []string{"/portForward/{ns}/{pod}", "/portForward/{ns}/{pod}/{uid}"} {
		mux.HandleFunc(p, s.portForward)
	}
	mux.HandleFunc("GET /pods", s.listPods)
	return mux
}

// status writes an error as a metav1.Status, as upstream's kubelet.
func status(w http.ResponseWriter, code int, format string, args ...any) {
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
		Message: fmt.Sprintf(format, args...), Code: int32(code), Reason: metav1.StatusReason(http.StatusText(code))}
	switch code {
	case http.StatusNotFound:
		st.Reason = metav1.StatusReasonNotFound
	case http.StatusBadRequest:
		st.Reason = metav1.StatusReasonBadRequest
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(st)
}

// target finds the pod and the runtime container a request names. It
// writes the error and returns ok false when there is none.
func (s *Server) target(w http.ResponseWriter, r *http.Request, previous bool) (*corev1.Pod, *podruntime.Container, bool) {
	ns, name, cname := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	pod, ok := s.cfg.Pods.ByName(ns, name)
	if !ok || (r.PathValue("uid") != "" && string(pod.UID) != r.PathValue("uid")) {
		status(w, http.StatusNotFound, "pod %s/%s not found on node %s", ns, name, s.cfg.NodeName)
		return nil, nil, false
	}
	known := false
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			known = known || c.Name == cname
		}
	}
	if !known {
		status(w, http.StatusBadRequest, "container %s is not valid for pod %s", cname, name)
		return nil, nil, false
	}
	st, err := s.cfg.State.Pod(r.Context(), pod.UID)
	if err != nil {
		status(w, http.StatusInternalServerError, "read pod state: %v", err)
		return nil, nil, false
	}
	var c *podruntime.Container
	if previous {
		if c = st.Previous(cname); c == nil {
			if l := st.Latest(cname); l != nil && l.Exited() && l.RestartCount > 0 {
				c = l
			}
		}
		if c == nil {
			status(w, http.StatusBadRequest, "previous terminated container %q in pod %q not found", cname, name)
			return nil, nil, false
		}
		return pod, c, true
	}
	if c = st.Latest(cname); c == nil {
		status(w, http.StatusBadRequest, "container %q in pod %q is waiting to start: ContainerCreating", cname, name)
		return nil, nil, false
	}
	return pod, c, true
}

// boolParam reads a query flag ("1", "true").
func boolParam(q url.Values, names ...string) bool {
	for _, n := range names {
		if v, err := strconv.ParseBool(q.Get(n)); err == nil && v {
			return true
		}
	}
	return false
}

// exec starts an exec session in the runtime and proxies the stream.
func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	_, c, ok := s.target(w, r, false)
	if !ok {
		return
	}
	if !c.Running() {
		status(w, http.StatusBadRequest, "container %s is not running", c.Name)
		return
	}
	q := r.URL.Query()
	cmd := q["command"]
	if len(cmd) == 0 {
		status(w, http.StatusBadRequest, "you must specify at least one command for the container")
		return
	}
	resp, err := s.cfg.Runtime.Exec(r.Context(), &runtimeapi.ExecRequest{
		ContainerId: c.ID, Cmd: cmd, Tty: boolParam(q, "tty"),
		Stdin: boolParam(q, "input", "stdin"), Stdout: boolParam(q, "output", "stdout"), Stderr: boolParam(q, "error", "stderr"),
	})
	if err != nil {
		status(w, http.StatusInternalServerError, "exec in container %s: %v", c.Name, err)
		return
	}
	proxyStream(w, r, resp.Url)
}

// attach attaches to a running container's streams.
func (s *Server) attach(w http.ResponseWriter, r *http.Request) {
	_, c, ok := s.target(w, r, false)
	if !ok {
		return
	}
	q := r.URL.Query()
	resp, err := s.cfg.Runtime.Attach(r.Context(), &runtimeapi.AttachRequest{
		ContainerId: c.ID, Tty: boolParam(q, "tty"),
		Stdin: boolParam(q, "input", "stdin"), Stdout: boolParam(q, "output", "stdout"), Stderr: boolParam(q, "error", "stderr"),
	})
	if err != nil {
		status(w, http.StatusInternalServerError, "attach to container %s: %v", c.Name, err)
		return
	}
	proxyStream(w, r, resp.Url)
}

// portForward forwards ports of a pod's sandbox.
func (s *Server) portForward(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("pod")
	pod, ok := s.cfg.Pods.ByName(ns, name)
	if !ok {
		status(w, http.StatusNotFound, "pod %s/%s not found on node %s", ns, name, s.cfg.NodeName)
		return
	}
	st, err := s.cfg.State.Pod(r.Context(), pod.UID)
	if err != nil || st.Current() == nil || !st.Current().Ready {
		status(w, http.StatusBadRequest, "pod %s/%s has no running sandbox", ns, name)
		return
	}
	resp, err := s.cfg.Runtime.PortForward(r.Context(), &runtimeapi.PortForwardRequest{PodSandboxId: st.Current().ID})
	if err != nil {
		status(w, http.StatusInternalServerError, "port-forward to pod %s: %v", name, err)
		return
	}
	proxyStream(w, r, resp.Url)
}

// proxyStream hands the (upgrading) request to the runtime's streaming
// server at target.
func proxyStream(w http.ResponseWriter, r *http.Request, target string) {
	u, err := url.Parse(target)
	if err != nil {
		status(w, http.StatusInternalServerError, "runtime returned a bad stream URL %q: %v", target, err)
		return
	}
	if u.Scheme == "" {
		u.Scheme = "http"
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = u.Scheme, u.Host
			pr.Out.URL.Path, pr.Out.URL.RawPath, pr.Out.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
			pr.Out.Host = u.Host
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			status(w, http.StatusBadGateway, "stream to the container runtime: %v", err)
		},
	}
	rp.ServeHTTP(w, r)
}

// listPods lists the pods the node runs (as the API knows them).
func (s *Server) listPods(w http.ResponseWriter, _ *http.Request) {
	type lister interface{ All() []*corev1.Pod }
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	if l, ok := s.cfg.Pods.(lister); ok {
		for _, p := range l.All() {
			list.Items = append(list.Items, *p)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&list)
}
