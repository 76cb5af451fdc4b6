package pods

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/kubelet/podruntime"
	"github.com/kubelab/kubelab/components/kubelet/podstatus"
	"github.com/kubelab/kubelab/components/kubelet/prober"
)

// terminate ends a pod being deleted: its containers stop gracefully
// (preStop hooks, SIGTERM, SIGKILL after the grace period), its final
// status is written, and the pod is deleted for good (grace period 0).
func (s *Syncer) terminate(ctx context.Context, pod *corev1.Pod, st *podruntime.PodState) error {
	if err := s.stopAll(ctx, pod, st, gracePeriod(pod)); err != nil {
		return err
	}
	if err := s.report(ctx, pod, true, "", ""); err != nil {
		return err
	}
	if IsStatic(pod) {
		return nil
	}
	zero := int64(0)
	uid := pod.UID
	err := s.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// stopAll stops the pod's running containers within grace seconds
// (containers in parallel, then sidecars in reverse order) and its ready
// sandboxes.
func (s *Syncer) stopAll(ctx context.Context, pod *corev1.Pod, st *podruntime.PodState, grace int64) error {
	specs := map[string]*corev1.Container{}
	sidecarOrder := map[string]int{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		specs[c.Name] = c
		if podstatus.IsRestartable(c) {
			sidecarOrder[c.Name] = i + 1
		}
	}
	for i := range pod.Spec.Containers {
		specs[pod.Spec.Containers[i].Name] = &pod.Spec.Containers[i]
	}
	var main, sidecars []*podruntime.Container
	for _, c := range st.Running() {
		if sidecarOrder[c.Name] > 0 {
			sidecars = append(sidecars, c)
		} else {
			main = append(main, c)
		}
	}
	start := s.Clock.Now()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, c := range main {
		wg.Go(func() {
			if err := s.killContainer(ctx, pod, specs[c.Name], c, grace, ""); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Sidecars stop last, in reverse order, within what is left.
	for i := len(pod.Spec.InitContainers); i > 0 && len(sidecars) > 0; i-- {
		for _, c := range sidecars {
			if sidecarOrder[c.Name] == i {
				left := grace - int64(s.Clock.Since(start).Seconds())
				if err := s.killContainer(ctx, pod, specs[c.Name], c, max(left, 0), ""); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, sb := range st.Sandboxes {
		if sb.Ready {
			if err := s.Runtime.StopPodSandbox(ctx, sb.ID); err != nil && !isNotFound(err) {
				return fmt.Errorf("stop sandbox %s: %w", sb.ID, err)
			}
		}
	}
	return nil
}

// killContainer stops one container: its preStop hook runs first, then
// the runtime sends SIGTERM and, after what is left of grace seconds (at
// least 2), SIGKILL. c may be nil (the pod's spec is gone); why is the
// Killing event's message ("Stopping container <name>" when empty).
func (s *Syncer) killContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, ct *podruntime.Container, grace int64, why string) error {
	if why == "" {
		why = "Stopping container " + ct.Name
	}
	if pod.Name != "" {
		s.Recorder.Event(pod, corev1.EventTypeNormal, "Killing", why)
	}
	start := time.Now()
	if c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
		if msg, err := s.runHook(ctx, pod, c, ct.ID, c.Lifecycle.PreStop, time.Duration(grace)*time.Second); err != nil {
			s.Recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %s", msg)
		}
	}
	left := max(grace-int64(time.Since(start).Seconds()), minGracePeriod)
	if err := s.Runtime.StopContainer(ctx, ct.ID, left); err != nil && !isNotFound(err) {
		return fmt.Errorf("stop container %s: %w", ct.Name, err)
	}
	return nil
}

// runHook runs a lifecycle handler against the container within timeout.
func (s *Syncer) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler, timeout time.Duration) (string, error) {
	if h.Sleep != nil {
		t := time.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return "", nil
	}
	ph := &corev1.ProbeHandler{Exec: h.Exec, HTTPGet: h.HTTPGet}
	if ph.Exec == nil && ph.HTTPGet == nil {
		return "", nil
	}
	st, err := s.reader.Pod(ctx, pod.UID)
	ip := s.NodeIP()
	if err == nil && st.Current() != nil && len(st.Current().IPs) > 0 && !pod.Spec.HostNetwork {
		ip = st.Current().IPs[0]
	}
	r := &prober.Runner{Exec: s.Runtime}
	res, out := r.Run(ctx, ph, prober.Target{Pod: pod, Container: c, ContainerID: id, PodIP: ip}, timeout)
	if res != prober.Success {
		return out, fmt.Errorf("hook failed: %s", out)
	}
	return out, nil
}

// gc removes exited containers beyond the newest two runs of each
// container (the current and the previous one, for lastState and logs
// --previous) and dead sandboxes left without containers.
func (s *Syncer) gc(ctx context.Context, st *podruntime.PodState) {
	seen := map[string]int{}
	used := map[string]bool{}
	for _, c := range st.Containers {
		seen[c.Name]++
		if seen[c.Name] <= 2 || !c.Exited() {
			used[c.SandboxID] = true
			continue
		}
		if err := s.Runtime.RemoveContainer(ctx, c.ID); err != nil && !isNotFound(err) {
			s.log.Info("remove old container failed", "container", c.ID, "err", err)
			used[c.SandboxID] = true
			continue
		}
		s.Probes.Forget(c.ID)
		s.mu.Lock()
		delete(s.messages, c.ID)
		s.mu.Unlock()
	}
	for i, sb := range st.Sandboxes {
		if i == 0 || sb.Ready || used[sb.ID] {
			continue
		}
		if err := s.Runtime.RemovePodSandbox(ctx, sb.ID); err != nil && !isNotFound(err) {
			s.log.Info("remove old sandbox failed", "sandbox", sb.ID, "err", err)
		}
	}
}

// removeCgroup removes a pod's (empty) cgroup from every cgroup v1
// hierarchy, best effort.
func removeCgroup(parent string) {
	if parent == "" {
		return
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, d := range dirs {
		_ = os.Remove(filepath.Join(d, parent))
	}
}

// isNotFound reports whether err is the runtime's NotFound.
func isNotFound(err error) bool {
	return grpcstatus.Code(errors.Unwrap(err)) == codes.NotFound || grpcstatus.Code(err) == codes.NotFound
}
