package pods

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critest "k8s.io/cri-api/pkg/apis/testing"
	testclock "k8s.io/utils/clock/testing"

	"github.com/kubelab/kubelab/components/kubelet/envvars"
	"github.com/kubelab/kubelab/components/kubelet/podruntime"
	"github.com/kubelab/kubelab/components/kubelet/prober"
	"github.com/kubelab/kubelab/components/kubelet/volumes"
)

// harness is a Syncer over a fake CRI and a fake API server.
type harness struct {
	t        *testing.T
	rt       *critest.FakeRuntimeService
	img      *critest.FakeImageService
	client   *fake.Clientset
	pods     *Manager
	s        *Syncer
	clock    *testclock.FakeClock
	recorder *record.FakeRecorder
	opts     Options
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, rt: critest.NewFakeRuntimeService(), img: critest.NewFakeImageService(),
		client: fake.NewClientset(), clock: testclock.NewFakeClock(time.Now()), recorder: record.NewFakeRecorder(1000)}
	h.img.SetFakeImages([]string{"busybox", "nginx"})
	h.pods = NewManager(func(types.UID) {})
	root := t.TempDir()
	objs := &envvars.APIObjects{Client: h.client}
	h.opts = Options{
		Client: h.client, Runtime: h.rt, Images: h.img,
		Layout:  &podruntime.Config{RootDir: root, PodLogsDir: root + "/logs"},
		Volumes: &volumes.Manager{RootDir: root, Objects: objs}, Objects: objs,
		Probes:   prober.NewManager(h.rt, nil, func(types.UID) {}),
		Recorder: h.recorder, Pods: h.pods, Clock: h.clock,
		NodeIP: func() string { return "172.18.0.2" },
	}
	h.s = NewSyncer(h.opts)
	t.Cleanup(h.opts.Probes.Stop)
	return h
}

// restart replaces the syncer by a new one over the same runtime (a
// restarted kubelet).
func (h *harness) restart() {
	h.opts.Probes.Stop()
	h.opts.Probes = prober.NewManager(h.rt, nil, func(types.UID) {})
	h.s = NewSyncer(h.opts)
}

func testPod(name string, policy corev1.RestartPolicy, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: "node-1", RestartPolicy: policy, Containers: containers},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
}

func ctr(name, image string) corev1.Container {
	return corev1.Container{Name: name, Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
		TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile}
}

// add creates the pod in the API and tells the manager.
func (h *harness) add(pod *corev1.Pod) *corev1.Pod {
	h.t.Helper()
	got, err := h.client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.pods.SetAPIPod(got)
	return got
}

// sync syncs the pod and refreshes the manager's copy from the API; it
// returns the pod as stored and the requested next sync.
func (h *harness) sync(pod *corev1.Pod) (*corev1.Pod, time.Duration, bool) {
	h.t.Helper()
	next, done := h.s.Sync(h.t.Context(), pod.UID)
	got, err := h.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		return nil, next, done
	}
	h.pods.SetAPIPod(got)
	return got, next, done
}

// container returns the newest fake container named name.
func (h *harness) container(name string) *critest.FakeContainer {
	h.rt.Lock()
	defer h.rt.Unlock()
	var best *critest.FakeContainer
	for _, c := range h.rt.Containers {
		if c.Metadata.Name == name && (best == nil || c.CreatedAt > best.CreatedAt ||
			c.CreatedAt == best.CreatedAt && c.Metadata.Attempt > best.Metadata.Attempt) {
			best = c
		}
	}
	return best
}

// exit ends the newest container named name with code.
func (h *harness) exit(name string, code int32, reason string) {
	h.t.Helper()
	c := h.container(name)
	if c == nil {
		h.t.Fatalf("no container %s", name)
	}
	h.rt.Lock()
	c.State = runtimeapi.ContainerState_CONTAINER_EXITED
	c.ExitCode, c.Reason = code, reason
	c.FinishedAt = h.clock.Now().UnixNano()
	h.rt.Unlock()
}

func (h *harness) calls(name string) int {
	n := 0
	for _, c := range h.rt.GetCalls() {
		if c == name {
			n++
		}
	}
	return n
}

func (h *harness) events() string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return strings.Join(out, "\n")
		}
	}
}

func status(pod *corev1.Pod, name string) corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.Name == name {
				return cs
			}
		}
	}
	return corev1.ContainerStatus{}
}

func cond(pod *corev1.Pod, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}
