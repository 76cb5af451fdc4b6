package pods

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	grpcstatus "google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kubelab/kubelab/components/kubelet/envvars"
	"github.com/kubelab/kubelab/components/kubelet/podruntime"
	"github.com/kubelab/kubelab/components/kubelet/podstatus"
	"github.com/kubelab/kubelab/components/kubelet/volumes"
)

// configRetry is how soon a container whose config cannot be built
// (missing config map, secret or key) is tried again.
const configRetry = 2 * time.Second

// startError is why a container could not start: its waiting reason and
// message, and when to try again.
type startError struct {
	reason, msg string
	retry       time.Duration
}

// Error returns the reason and message.
func (e *startError) Error() string { return e.reason + ": " + e.msg }

// startContainer creates and starts one run of container c.
func (p *podSync) startContainer(ctx context.Context, c *corev1.Container, restartCount int32, init bool) error {
	s, pod := p.s, p.pod
	if err := p.ensureImage(ctx, c); err != nil {
		var se *startError
		if errors.As(err, &se) {
			// As upstream: the image's own event, then "Error: <reason>".
			s.Recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", se.reason)
		}
		return err
	}
	env, err := envvars.Resolve(ctx, s.Objects, p.downward(), c)
	if err != nil {
		if envvars.IsConfigError(err) {
			s.Recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
			return &startError{reason: ReasonCreateContainerConfigError, msg: err.Error(), retry: configRetry}
		}
		return &startError{reason: ReasonCreateContainerConfigError, msg: err.Error(), retry: configRetry}
	}
	mounts, err := volumes.Mounts(c, p.vols)
	if err != nil {
		s.Recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return &startError{reason: ReasonCreateContainerConfigError, msg: err.Error(), retry: configRetry}
	}
	if podruntime.ManagesHosts(pod, c) {
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: s.Layout.HostsFile(pod)})
	}
	if c.TerminationMessagePath != "" {
		f := s.Layout.TerminationMessageFile(pod, c.Name, restartCount)
		if err := touch(f); err != nil {
			return fmt.Errorf("create termination message file: %w", err)
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: f})
	}
	cfg := s.Layout.ContainerConfig(pod, c, podruntime.ContainerOptions{
		Env: env, Mounts: mounts, RestartCount: restartCount, Init: init, MemoryCapacity: s.MemoryCapacity,
	})
	id, err := s.Runtime.CreateContainer(ctx, p.sb.ID, cfg, p.sbCfg)
	if err != nil {
		msg := runtimeMessage(err)
		s.Recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", msg)
		return &startError{reason: ReasonCreateContainerError, msg: msg, retry: configRetry}
	}
	s.Recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	if err := s.Runtime.StartContainer(ctx, id); err != nil {
		msg := runtimeMessage(err)
		s.Recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", msg)
		// The runtime records the failed start as an exit (containerd:
		// reason StartError, exit code 128). As upstream, a container that
		// will be started again waits with RunContainerError until the
		// next sync restarts it (then CrashLoopBackOff); one that will not
		// (restartPolicy Never) shows that exit.
		if podstatus.IsRestartable(c) || pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
			return &startError{reason: ReasonRunContainerError, msg: msg, retry: retryBase}
		}
		p.soon(10 * time.Millisecond)
		return nil
	}
	s.Recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if msg, err := p.s.runHook(ctx, pod, c, id, c.Lifecycle.PostStart, 2*time.Minute); err != nil {
			s.Recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %s", msg)
			if err := s.Runtime.StopContainer(ctx, id, minGracePeriod); err != nil && !isNotFound(err) {
				return fmt.Errorf("stop container %s after its postStart hook failed: %w", c.Name, err)
			}
		}
	}
	return nil
}

// runtimeMessage is a CRI error's message without gRPC's "rpc error:
// code = ... desc =" wrapping, as upstream's events and waiting messages
// show it.
func runtimeMessage(err error) string {
	if st, ok := grpcstatus.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

// ensureImage makes sure c's image is on the node. Images already there
// are used whatever the pull policy (no registry is reachable from a lab
// node); a missing one fails at once with pull policy Never and is pulled
// otherwise, within the pull timeout and with backoff between attempts.
func (p *podSync) ensureImage(ctx context.Context, c *corev1.Container) error {
	s, pod := p.s, p.pod
	spec := &runtimeapi.ImageSpec{Image: c.Image, UserSpecifiedImage: c.Image}
	resp, err := s.Images.ImageStatus(ctx, spec, false)
	if err != nil {
		return fmt.Errorf("image status of %s: %w", c.Image, err)
	}
	if resp.GetImage() != nil {
		s.Recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
		return nil
	}
	if c.ImagePullPolicy == corev1.PullNever {
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		s.Recorder.Event(pod, corev1.EventTypeWarning, ReasonErrImageNeverPull, msg)
		return &startError{reason: ReasonErrImageNeverPull, msg: msg, retry: s.BackoffBase}
	}
	key := string(pod.UID) + "/image/" + c.Image
	now := s.Clock.Now()
	if s.imageBackoff.IsInBackOffSinceUpdate(key, now) {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		s.Recorder.Event(pod, corev1.EventTypeNormal, "BackOff", msg)
		return &startError{reason: ReasonImagePullBackOff, msg: msg, retry: s.imageBackoff.Get(key)}
	}
	s.Recorder.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	pctx, cancel := context.WithTimeout(ctx, s.ImagePullTimeout)
	defer cancel()
	if _, err := s.Images.PullImage(pctx, spec, nil, p.sbCfg); err != nil {
		s.imageBackoff.Next(key, now)
		msg := fmt.Sprintf("Failed to pull image %q: %v", c.Image, err)
		if errors.Is(pctx.Err(), context.DeadlineExceeded) {
			msg = fmt.Sprintf("Failed to pull image %q: no answer within %s (is a registry reachable? load the image onto the node)", c.Image, s.ImagePullTimeout)
		}
		s.Recorder.Event(pod, corev1.EventTypeWarning, "Failed", msg)
		return &startError{reason: ReasonErrImagePull, msg: msg, retry: s.imageBackoff.Get(key)}
	}
	s.imageBackoff.Reset(key)
	s.Recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q", c.Image)
	return nil
}

// writeIfChanged writes data to path (creating its directory) unless it
// holds data already.
func writeIfChanged(path string, data []byte) error {
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// touch creates an empty file (and its directory) when missing.
func touch(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(path, 0o666)
}

// Termination message limits, as upstream.
const (
	maxMessageBytes = 4096
	maxLogTailLines = 80
	maxLogTailBytes = 2048
)

// terminationMessage is an exited container's message: its termination
// message file, else (FallbackToLogsOnError after a failure) the tail of
// its log.
func (s *Syncer) terminationMessage(pod *corev1.Pod, c *corev1.Container, ct *podruntime.Container) string {
	s.mu.Lock()
	msg, ok := s.messages[ct.ID]
	s.mu.Unlock()
	if ok {
		return msg
	}
	if b, err := readLimited(s.Layout.TerminationMessageFile(pod, c.Name, ct.RestartCount), maxMessageBytes); err == nil {
		msg = string(b)
	}
	if msg == "" && c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError && ct.ExitCode != 0 && ct.LogPath != "" {
		msg = logTail(ct.LogPath, maxLogTailLines, maxLogTailBytes)
	}
	s.mu.Lock()
	s.messages[ct.ID] = msg
	s.mu.Unlock()
	return msg
}

func readLimited(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, err := f.Read(b)
	if m == 0 && err != nil {
		return nil, err
	}
	return b[:m], nil
}

// logTail is the last lines of a CRI log file (their content only).
func logTail(path string, lines, maxBytes int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	var out strings.Builder
	for _, l := range all {
		// timestamp stream tag content
		parts := strings.SplitN(l, " ", 4)
		if len(parts) == 4 {
			out.WriteString(parts[3])
			if parts[2] != "P" {
				out.WriteByte('\n')
			}
		}
	}
	s := out.String()
	if len(s) > maxBytes {
		s = s[len(s)-maxBytes:]
	}
	return s
}
