package pods

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critest "k8s.io/cri-api/pkg/apis/testing"
)

// runcNotFound is the message containerd gives for a command that does
// not exist in the image.
const runcNotFound = `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: ` +
	`unable to start container process: error during container init: exec: "/no-such-command": stat /no-such-command: no such file or directory: unknown`

// failingStarts is the fake CRI with containerd's behaviour when a
// container cannot start: StartContainer fails with a gRPC error and the
// container is EXITED with reason StartError and exit code 128.
type failingStarts struct {
	*critest.FakeRuntimeService
}

func (r *failingStarts) StartContainer(_ context.Context, id string) error {
	r.Lock()
	defer r.Unlock()
	r.Called = append(r.Called, "StartContainer")
	if c, ok := r.Containers[id]; ok {
		c.State = runtimeapi.ContainerState_CONTAINER_EXITED
		c.ExitCode, c.Reason, c.Message = 128, "StartError", runcNotFound
		c.FinishedAt = c.CreatedAt + 1
	}
	return grpcstatus.Error(codes.Unknown, runcNotFound)
}

// withFailingStarts makes every container start of h fail as containerd's do.
func withFailingStarts(h *harness) {
	h.opts.Runtime = &failingStarts{h.rt}
	h.s = NewSyncer(h.opts)
}

func TestStartErrorNeverIsTerminated(t *testing.T) {
	h := newHarness(t)
	withFailingStarts(h)
	pod := h.add(testPod("p", corev1.RestartPolicyNever, ctr("c", "busybox")))
	pod, _, _ = h.sync(pod)
	cs := status(pod, "c")
	term := cs.State.Terminated
	if term == nil || term.Reason != "StartError" || term.ExitCode != 128 || !strings.Contains(term.Message, "/no-such-command") {
		t.Fatalf("state = %+v, want terminated StartError 128", cs.State)
	}
	if pod.Status.Phase != corev1.PodFailed {
		t.Errorf("phase %s, want Failed", pod.Status.Phase)
	}
	ev := h.events()
	if !strings.Contains(ev, "Warning Failed Error: "+runcNotFound) {
		t.Errorf("no Warning Failed event with the runtime's message (without the gRPC wrapping):\n%s", ev)
	}
	if strings.Contains(ev, "rpc error") {
		t.Errorf("event keeps the gRPC wrapping:\n%s", ev)
	}
	pod, _, _ = h.sync(pod)
	if h.calls("CreateContainer") != 1 || pod.Status.Phase != corev1.PodFailed {
		t.Errorf("a failed pod ran again: %v", h.rt.GetCalls())
	}
}

func TestStartErrorRestartsWithRunContainerErrorThenCrashLoopBackOff(t *testing.T) {
	for _, policy := range []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure} {
		t.Run(string(policy), func(t *testing.T) {
			h := newHarness(t)
			withFailingStarts(h)
			pod := h.add(testPod("p", policy, ctr("c", "busybox")))
			for i, want := range []struct {
				reason   string
				restarts int32
			}{
				{ReasonRunContainerError, 0}, // the failed start
				{ReasonRunContainerError, 1}, // the first restart is immediate, and fails
				{ReasonCrashLoopBackOff, 1},  // then the backoff
			} {
				pod, _, _ = h.sync(pod)
				cs := status(pod, "c")
				w, last := cs.State.Waiting, cs.LastTerminationState.Terminated
				if w == nil || w.Reason != want.reason || cs.RestartCount != want.restarts {
					t.Fatalf("sync %d: state %+v restarts %d, want waiting %s with %d restarts", i, cs.State, cs.RestartCount, want.reason, want.restarts)
				}
				if want.reason == ReasonRunContainerError && w.Message != runcNotFound {
					t.Errorf("sync %d: waiting message %q, want the runtime's", i, w.Message)
				}
				if last == nil || last.Reason != "StartError" || last.ExitCode != 128 {
					t.Errorf("sync %d: lastState %+v, want terminated StartError 128", i, cs.LastTerminationState)
				}
				if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
					t.Fatalf("sync %d: phase %s of a pod that restarts", i, pod.Status.Phase)
				}
			}
			if n := h.calls("StartContainer"); n != 2 {
				t.Errorf("%d starts, want 2 before the backoff", n)
			}
		})
	}
}

func TestImageErrorEvents(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy corev1.PullPolicy
		want   [][]string // events after each sync
	}{
		{"never", corev1.PullNever, [][]string{
			{`Warning ErrImageNeverPull Container image "missing:1" is not present with pull policy of Never`, "Warning Failed Error: ErrImageNeverPull"},
		}},
		{"pull fails", corev1.PullIfNotPresent, [][]string{
			{`Normal Pulling Pulling image "missing:1"`, `Warning Failed Failed to pull image "missing:1"`, "Warning Failed Error: ErrImagePull"},
			{`Normal BackOff Back-off pulling image "missing:1"`, "Warning Failed Error: ImagePullBackOff"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c := ctr("c", "missing:1")
			c.ImagePullPolicy = tc.policy
			h.img.InjectError("PullImage", errBoom)
			pod := h.add(testPod("p", corev1.RestartPolicyAlways, c))
			for i, want := range tc.want {
				pod, _, _ = h.sync(pod)
				ev := h.events()
				for _, w := range want {
					if !strings.Contains(ev, w) {
						t.Errorf("sync %d: no event %q in:\n%s", i, w, ev)
					}
				}
			}
		})
	}
}
