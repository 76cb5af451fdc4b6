package prober

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilexec "k8s.io/utils/exec"
)

// execer fails while fail is set.
type execer struct{ fail atomic.Bool }

func (e *execer) ExecSync(ctx context.Context, id string, cmd []string, _ time.Duration) ([]byte, []byte, error) {
	if e.fail.Load() {
		return nil, []byte("boom"), utilexec.CodeExitError{Err: errors.New("exit 1"), Code: 1}
	}
	return []byte("ok"), nil, nil
}

func hostPort(t *testing.T, raw string) (string, int) {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	h, p, _ := net.SplitHostPort(u.Host)
	n, _ := strconv.Atoi(p)
	return h, n
}

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") != userAgent || r.Header.Get("X-Probe") != "yes" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/healthz":
			_, _ = w.Write([]byte("fine"))
		case "/redirect":
			http.Redirect(w, r, "/healthz", http.StatusFound)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	host, port := hostPort(t, srv.URL)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	ctr := &corev1.Container{Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	headers := []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}}
	ex := &execer{}
	r := &Runner{Exec: ex}
	for _, tc := range []struct {
		name string
		h    corev1.ProbeHandler
		fail bool
		want Result
	}{
		{"http ok", corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(int32(port)), HTTPHeaders: headers}}, false, Success},
		{"http named port and redirect", corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/redirect", Port: intstr.FromString("http"), HTTPHeaders: headers}}, false, Success},
		{"http 503", corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/bad", Port: intstr.FromInt32(int32(port)), HTTPHeaders: headers}}, false, Failure},
		{"http unknown port name", corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("nope")}}, false, Failure},
		{"tcp open", corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}}, false, Success},
		{"tcp closed", corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(closedPort))}}, false, Failure},
		{"exec ok", corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, false, Success},
		{"exec exit 1", corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}}, true, Failure},
		{"no handler", corev1.ProbeHandler{}, false, Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex.fail.Store(tc.fail)
			got, out := r.Run(t.Context(), &tc.h, Target{Container: ctr, ContainerID: "c1", PodIP: host}, time.Second)
			if got != tc.want {
				t.Errorf("Run = %v (%s), want %v", got, out, tc.want)
			}
		})
	}
}

// changes records onChange calls.
type changes struct {
	mu  sync.Mutex
	n   int
	uid types.UID
}

func (c *changes) add(uid types.UID) {
	c.mu.Lock()
	c.n++
	c.uid = uid
	c.mu.Unlock()
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestManager(t *testing.T) {
	ex := &execer{}
	ch := &changes{}
	m := NewManager(ex, nil, ch.add)
	defer m.Stop()
	execProbe := func(threshold int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}},
			PeriodSeconds: 1, FailureThreshold: threshold}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "plain"},
			{Name: "web", ReadinessProbe: execProbe(1), LivenessProbe: execProbe(2), StartupProbe: execProbe(5)},
		}},
	}
	web := &pod.Spec.Containers[1]
	if !m.Ready(&pod.Spec.Containers[0], "p1") || !m.Started(&pod.Spec.Containers[0], "p1") {
		t.Error("a container without probes is not ready")
	}
	m.Sync(t.Context(), pod, map[string]Running{"plain": {"p1", time.Now()}, "web": {"w1", time.Now()}}, "10.0.0.5")
	if m.Ready(web, "w1") || m.Started(web, "w1") {
		t.Error("a new container is ready before its probes ran")
	}
	eventually(t, 3*time.Second, "started and ready", func() bool { return m.Started(web, "w1") && m.Ready(web, "w1") })
	if m.Unhealthy(web, "w1") != "" {
		t.Error("healthy container reported unhealthy")
	}
	ex.fail.Store(true)
	eventually(t, 5*time.Second, "liveness failure after two failed probes", func() bool { return m.Unhealthy(web, "w1") != "" })
	if m.Ready(web, "w1") {
		t.Error("failing container still ready")
	}
	ch.mu.Lock()
	if ch.n == 0 || ch.uid != "u1" {
		t.Errorf("onChange calls = %d uid %q", ch.n, ch.uid)
	}
	ch.mu.Unlock()

	// A restarted container gets fresh workers and results.
	ex.fail.Store(false)
	m.Sync(t.Context(), pod, map[string]Running{"web": {"w2", time.Now()}}, "10.0.0.5")
	if m.Unhealthy(web, "w2") != "" || m.Ready(web, "w2") {
		t.Error("new container inherited results")
	}
	m.Remove("u1")
	m.mu.Lock()
	n := len(m.workers)
	m.mu.Unlock()
	if n != 0 {
		t.Errorf("%d workers left after Remove", n)
	}
}

func TestTimingDefaults(t *testing.T) {
	tm := timingOf(&corev1.Probe{InitialDelaySeconds: 3})
	if tm.delay != 3*time.Second || tm.period != 10*time.Second || tm.timeout != time.Second || tm.success != 1 || tm.failure != 3 {
		t.Errorf("timing = %+v", tm)
	}
}
