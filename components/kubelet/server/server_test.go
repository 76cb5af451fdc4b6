package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critest "k8s.io/cri-api/pkg/apis/testing"

	"github.com/kubelab/kubelab/components/kubelet/podruntime"
)

type pods map[string]*corev1.Pod

func (p pods) ByName(ns, name string) (*corev1.Pod, bool) {
	pod, ok := p[ns+"/"+name]
	return pod, ok
}

type state map[types.UID]*podruntime.PodState

func (s state) Pod(_ context.Context, uid types.UID) (*podruntime.PodState, error) {
	if st, ok := s[uid]; ok {
		return st, nil
	}
	return &podruntime.PodState{UID: uid}, nil
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func TestRoutes(t *testing.T) {
	dir := t.TempDir()
	cur, prev := filepath.Join(dir, "1.log"), filepath.Join(dir, "0.log")
	if err := os.WriteFile(cur, []byte("2026-01-01T00:00:00Z stdout F now\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prev, []byte("2026-01-01T00:00:00Z stderr F before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}, {Name: "waiting"}}}}
	st := state{"u1": {UID: "u1", Containers: []*podruntime.Container{
		{ID: "c1", Name: "c", State: runtimeapi.ContainerState_CONTAINER_EXITED, RestartCount: 1, LogPath: cur},
		{ID: "c0", Name: "c", State: runtimeapi.ContainerState_CONTAINER_EXITED, LogPath: prev},
	}}}
	rt := critest.NewFakeRuntimeService()
	s := New(Config{NodeName: "n1", Pods: pods{"ns/p": pod}, State: st, Runtime: rt})
	h := s.Handler()
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/healthz", 200, "ok"},
		{"/containerLogs/ns/p/c", 200, "now\n"},
		{"/containerLogs/ns/p/c?previous=true", 200, "before\n"},
		{"/containerLogs/ns/p/c?timestamps=true", 200, "2026-01-01T00:00:00.000000000Z now\n"},
		{"/containerLogs/ns/p/c?tailLines=x", 400, "tailLines"},
		{"/containerLogs/ns/p/waiting", 400, `container "waiting" in pod "p" is waiting to start: ContainerCreating`},
		{"/containerLogs/ns/p/nope", 400, "container nope is not valid for pod p"},
		{"/containerLogs/ns/other/c", 404, "pod ns/other not found on node n1"},
		{"/exec/ns/p/c?command=ls", 400, "container c is not running"},
	} {
		code, body := get(t, h, tc.path)
		msg := body
		if code >= 400 {
			var st metav1.Status
			if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" || int(st.Code) != code {
				t.Errorf("GET %s: error body is not a Status: %q", tc.path, body)
			}
			msg = st.Message
		}
		if code != tc.code || !strings.Contains(msg, tc.want) {
			t.Errorf("GET %s = %d %q; want %d %q", tc.path, code, msg, tc.code, tc.want)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	s := New(Config{ClientCAFile: "/ca.crt"})
	h := s.authenticate(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	for path, want := range map[string]int{"/healthz": http.StatusNoContent, "/containerLogs/ns/p/c": http.StatusUnauthorized} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("%s without a client certificate = %d, want %d", path, rec.Code, want)
		}
	}
}
