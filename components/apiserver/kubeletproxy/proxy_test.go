package kubeletproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// nodes is a Getter over a fixed set of nodes.
type nodes map[string]*corev1.Node

func (n nodes) Get(_ context.Context, _, name string) (runtime.Object, error) {
	if node, ok := n[name]; ok {
		return node, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, name)
}

func node(name, ip string, port int32) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: port}},
	}}
}

func pod(containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	return p
}

func TestLocation(t *testing.T) {
	p, err := New(Config{Nodes: nodes{"n1": node("n1", "10.0.0.7", 10250)}})
	if err != nil {
		t.Fatal(err)
	}
	done := pod("c")
	done.Status.Phase = corev1.PodSucceeded
	unscheduled := pod("c")
	unscheduled.Spec.NodeName = ""
	withInit := pod("a", "b")
	withInit.Spec.InitContainers = []corev1.Container{{Name: "init"}}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		sub  string
		q    string
		want string // URL or error substring
	}{
		{"log of the only container", pod("c"), "log", "follow=true&tailLines=5&bogus=1", "https://10.0.0.7:10250/containerLogs/ns/p/c?follow=true&tailLines=5"},
		{"log of a named container", pod("a", "b"), "log", "container=b&previous=true", "https://10.0.0.7:10250/containerLogs/ns/p/b?previous=true"},
		{"log needs a container", withInit, "log", "", "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [init]"},
		{"log of an unknown container", pod("a"), "log", "container=x", "container x is not valid for pod p"},
		{"exec", pod("c"), "exec", "command=ls&command=-l&stdin=true&stdout=true&stderr=false&tty=true", "https://10.0.0.7:10250/exec/ns/p/c?command=ls&command=-l&input=1&output=1&tty=1"},
		{"exec without a command", pod("c"), "exec", "stdout=true", "you must specify at least one command"},
		{"exec in a completed pod", done, "exec", "command=ls", "cannot exec into a container in a completed pod; current phase is Succeeded"},
		{"attach", pod("c"), "attach", "stdout=true&stderr=true", "https://10.0.0.7:10250/attach/ns/p/c?error=1&output=1"},
		{"portforward", pod("c"), "portforward", "ports=80", "https://10.0.0.7:10250/portForward/ns/p?port=80"},
		{"unscheduled", unscheduled, "log", "", "pod p does not have a host assigned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.q)
			u, err := p.location(t.Context(), tc.pod, tc.sub, q)
			got := ""
			if err != nil {
				got = err.Error()
				if !apierrors.IsBadRequest(err) {
					t.Errorf("error %v is not a BadRequest", err)
				}
			} else {
				got = u.String()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("location = %q, want %q", got, tc.want)
			}
		})
	}
}

// fakeKubelet serves logs and switches exec requests to an echo stream.
func fakeKubelet(t *testing.T) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			http.Error(w, "credentials leaked", http.StatusTeapot)
			return
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/containerLogs/ns/p/missing"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"container \"missing\" in pod \"p\" is waiting to start: ContainerCreating","reason":"BadRequest","code":400}`)
		case strings.HasPrefix(r.URL.Path, "/containerLogs/"):
			fmt.Fprintf(w, "log of %s tail=%s\n", r.URL.Path, r.URL.Query().Get("tailLines"))
		case strings.HasPrefix(r.URL.Path, "/exec/") && r.Header.Get("Upgrade") == "SPDY/3.1":
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n")
			_ = rw.Flush()
			line, _ := rw.ReadString('\n')
			fmt.Fprintf(rw, "echo %s", line)
			_ = rw.Flush()
		default:
			http.Error(w, "upgrade required", http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestConnect(t *testing.T) {
	kubelet := fakeKubelet(t)
	host, portStr, _ := net.SplitHostPort(strings.TrimPrefix(kubelet.URL, "https://"))
	port, _ := strconv.Atoi(portStr)
	p, err := New(Config{Nodes: nodes{"n1": node("n1", host, int32(port))}})
	if err != nil {
		t.Fatal(err)
	}
	// The API server side: a handler that connects every request to pod p.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		target := pod("c", "missing")
		if err := p.Connect(r.Context(), w, r, target, sub); err != nil {
			st := err.(apierrors.APIStatus).Status()
			http.Error(w, st.Message, int(st.Code))
		}
	}))
	defer api.Close()

	t.Run("logs", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/log?container=c&tailLines=3", nil)
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "log of /containerLogs/ns/p/c tail=3\n" {
			t.Errorf("logs = %d %q", resp.StatusCode, body)
		}
		resp, err = http.Get(api.URL + "/log?container=missing")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "is waiting to start: ContainerCreating") {
			t.Errorf("kubelet error = %d %q", resp.StatusCode, body)
		}
	})

	t.Run("exec upgrade", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(api.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /exec?container=c&command=sh&stdin=true HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer secret\r\n"+
			"Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		fmt.Fprint(conn, "hello\n")
		got, _ := br.ReadString('\n')
		if got != "echo hello\n" {
			t.Errorf("stream = %q", got)
		}
	})

	t.Run("refused upgrade passes through", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/exec?container=c&command=sh", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want the kubelet's 400", resp.StatusCode)
		}
	})

	t.Run("kubelet down", func(t *testing.T) {
		down, _ := New(Config{Nodes: nodes{"n1": node("n1", "127.0.0.1", 1)}})
		err := down.Connect(t.Context(), httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/log", nil), pod("c"), "log")
		if !apierrors.IsServiceUnavailable(err) {
			t.Errorf("err = %v, want ServiceUnavailable", err)
		}
	})
}
