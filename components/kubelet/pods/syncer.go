package pods

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	internalapi "k8s.io/cri-api/pkg/apis"
	"k8s.io/utils/clock"

	"github.com/kubelab/kubelab/components/kubelet/envvars"
	"github.com/kubelab/kubelab/components/kubelet/podruntime"
	"github.com/kubelab/kubelab/components/kubelet/podstatus"
	"github.com/kubelab/kubelab/components/kubelet/prober"
	"github.com/kubelab/kubelab/components/kubelet/volumes"
)

// Defaults of the sync timing, as upstream.
const (
	// resyncPeriod is how often a pod is synced without a change.
	resyncPeriod = 30 * time.Second
	// crashBackoffBase and crashBackoffMax bound CrashLoopBackOff.
	crashBackoffBase = 10 * time.Second
	crashBackoffMax  = 5 * time.Minute
	// retryBase and retryMax bound the retries of failed syncs.
	retryBase = time.Second
	retryMax  = 30 * time.Second
	// minGracePeriod is the least time a container gets to stop.
	minGracePeriod = 2
	// defaultImagePullTimeout bounds one image pull.
	defaultImagePullTimeout = 30 * time.Second
)

// Options are a Syncer's collaborators.
type Options struct {
	Client   kubernetes.Interface
	Runtime  internalapi.RuntimeService
	Images   internalapi.ImageManagerService
	Layout   *podruntime.Config
	Volumes  *volumes.Manager
	Objects  envvars.Objects
	Probes   *prober.Manager
	Recorder record.EventRecorder
	Pods     *Manager
	// NodeIP is the node's address (the pods' hostIP).
	NodeIP func() string
	// Allocatable is the node's allocatable (for resourceFieldRef).
	Allocatable func() corev1.ResourceList
	// MemoryCapacity is the node's memory (for OOM score adjustment).
	MemoryCapacity int64
	// NetworkReady reports whether pod networking is ready, and why not.
	NetworkReady func() (bool, string)
	// ImagePullTimeout bounds an image pull (30s).
	ImagePullTimeout time.Duration
	// Clock is the time source (a fake in tests).
	Clock clock.Clock
	// BackoffBase and BackoffMax bound CrashLoopBackOff (10s, 5m).
	BackoffBase, BackoffMax time.Duration
}

// Syncer syncs pods: it makes the runtime run what the pod says and
// reports the pod's status.
type Syncer struct {
	Options
	reader       *podruntime.Reader
	crashBackoff *flowcontrol.Backoff
	imageBackoff *flowcontrol.Backoff
	log          *slog.Logger

	mu      sync.Mutex
	waiting map[types.UID]map[string]waiting
	written map[types.UID]*corev1.PodStatus
	// writtenTo is the API pod (uid) written[uid] went to ("": none yet,
	// a static pod without its mirror).
	writtenTo map[types.UID]types.UID
	last      map[types.UID]*corev1.Pod
	retries   map[types.UID]time.Duration
	messages  map[string]string // termination messages by container ID
}

// NewSyncer returns a Syncer over o.
func NewSyncer(o Options) *Syncer {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.ImagePullTimeout <= 0 {
		o.ImagePullTimeout = defaultImagePullTimeout
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = crashBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = crashBackoffMax
	}
	if o.NodeIP == nil {
		o.NodeIP = func() string { return "" }
	}
	if o.Allocatable == nil {
		o.Allocatable = func() corev1.ResourceList { return nil }
	}
	if o.NetworkReady == nil {
		o.NetworkReady = func() (bool, string) { return true, "" }
	}
	if o.Recorder == nil {
		o.Recorder = &record.FakeRecorder{}
	}
	return &Syncer{
		Options:      o,
		reader:       podruntime.NewReader(o.Runtime),
		crashBackoff: flowcontrol.NewFakeBackOff(o.BackoffBase, o.BackoffMax, o.Clock),
		imageBackoff: flowcontrol.NewFakeBackOff(o.BackoffBase, o.BackoffMax, o.Clock),
		log:          slog.Default().With("component", "kubelet-pods"),
		waiting:      map[types.UID]map[string]waiting{},
		written:      map[types.UID]*corev1.PodStatus{},
		writtenTo:    map[types.UID]types.UID{},
		last:         map[types.UID]*corev1.Pod{},
		retries:      map[types.UID]time.Duration{},
		messages:     map[string]string{},
	}
}

// Reader is the runtime state reader the Syncer uses.
func (s *Syncer) Reader() *podruntime.Reader { return s.reader }

// Sync syncs the pod with uid; it is the pod workers' SyncFunc.
func (s *Syncer) Sync(ctx context.Context, uid types.UID) (time.Duration, bool) {
	st, err := s.reader.Pod(ctx, uid)
	if err != nil {
		return s.retry(ctx, uid, err), false
	}
	pod, ok := s.Pods.Get(uid)
	if !ok {
		if err := s.cleanup(ctx, uid, st); err != nil {
			return s.retry(ctx, uid, err), false
		}
		return 0, true
	}
	s.mu.Lock()
	s.last[uid] = pod
	s.mu.Unlock()
	next, err := s.syncPod(ctx, pod, st)
	if err != nil {
		return min(s.retry(ctx, uid, err), max(next, retryBase)), false
	}
	s.mu.Lock()
	delete(s.retries, uid)
	s.mu.Unlock()
	return next, false
}

// retry logs a failed sync and returns when to try again (doubling from
// retryBase up to retryMax).
func (s *Syncer) retry(ctx context.Context, uid types.UID, err error) time.Duration {
	if ctx.Err() != nil {
		return 0
	}
	s.mu.Lock()
	d := s.retries[uid]
	d = min(max(2*d, retryBase), retryMax)
	s.retries[uid] = d
	s.mu.Unlock()
	s.log.Info("pod sync failed", "uid", uid, "retryIn", d, "err", err)
	return d
}

// syncPod syncs a pod the node should know.
func (s *Syncer) syncPod(ctx context.Context, pod *corev1.Pod, st *podruntime.PodState) (time.Duration, error) {
	if pod.DeletionTimestamp != nil {
		return 0, s.terminate(ctx, pod, st)
	}
	base := s.baseStatus(pod)
	if base.Phase == corev1.PodSucceeded || base.Phase == corev1.PodFailed {
		// A finished pod never runs again: make sure nothing does.
		if err := s.stopAll(ctx, pod, st, gracePeriod(pod)); err != nil {
			return 0, err
		}
		return 0, s.report(ctx, pod, false, "", "")
	}
	if _, exceeded := s.pastDeadline(pod, base); exceeded {
		s.Recorder.Eventf(pod, corev1.EventTypeNormal, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
		if err := s.stopAll(ctx, pod, st, gracePeriod(pod)); err != nil {
			return 0, err
		}
		return 0, s.report(ctx, pod, true, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
	}
	ps := &podSync{s: s, pod: pod, st: st, waiting: map[string]waiting{}, next: resyncPeriod}
	runErr := ps.run(ctx)
	s.mu.Lock()
	s.waiting[pod.UID] = ps.waiting
	s.mu.Unlock()
	if err := s.report(ctx, pod, false, "", ""); err != nil {
		return 0, err
	}
	if deadline, _ := s.pastDeadline(pod, s.baseStatus(pod)); deadline > 0 && deadline < ps.next {
		ps.next = deadline
	}
	return ps.next, runErr
}

// pastDeadline reports whether the pod ran past activeDeadlineSeconds,
// or else how long until it does (0: no deadline).
func (s *Syncer) pastDeadline(pod *corev1.Pod, base *corev1.PodStatus) (time.Duration, bool) {
	if pod.Spec.ActiveDeadlineSeconds == nil || base.StartTime == nil {
		return 0, false
	}
	left := base.StartTime.Add(time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second).Sub(s.Clock.Now())
	return max(left, time.Millisecond), left <= 0
}

// report reads the pod's runtime state, computes its status and writes
// it; once the status is terminal the pod's sandbox is stopped.
func (s *Syncer) report(ctx context.Context, pod *corev1.Pod, terminal bool, reason, msg string) error {
	st, err := s.reader.Pod(ctx, pod.UID)
	if err != nil {
		return err
	}
	status := s.status(pod, st, terminal, reason, msg)
	s.syncProbes(ctx, pod, st)
	if err := s.writeStatus(ctx, pod, status); err != nil {
		return err
	}
	if status.Phase == corev1.PodSucceeded || status.Phase == corev1.PodFailed {
		if err := s.stopAll(ctx, pod, st, gracePeriod(pod)); err != nil {
			return err
		}
	}
	s.gc(ctx, st)
	return nil
}

// status computes the pod's status from its runtime state.
func (s *Syncer) status(pod *corev1.Pod, st *podruntime.PodState, terminal bool, reason, msg string) *corev1.PodStatus {
	s.mu.Lock()
	w := s.waiting[pod.UID]
	s.mu.Unlock()
	base := *pod
	base.Status = *s.baseStatus(pod)
	return computeStatus(&base, st, statusInput{
		now: s.Clock.Now(), hostIP: s.NodeIP(), waiting: w,
		ready: s.Probes.Ready, started: s.Probes.Started,
		message:  func(c *corev1.Container, ct *podruntime.Container) string { return s.terminationMessage(pod, c, ct) },
		terminal: terminal, reason: reason, msg: msg,
	})
}

// baseStatus is the status the pod's new status starts from: the API's
// (the mirror pod's for a static pod), else the last one written.
func (s *Syncer) baseStatus(pod *corev1.Pod) *corev1.PodStatus {
	target := s.statusTarget(pod)
	s.mu.Lock()
	written := s.written[pod.UID]
	s.mu.Unlock()
	switch {
	case target != nil && target.Status.Phase != "":
		st := target.Status.DeepCopy()
		// The API can lag what was written; a terminal phase written
		// already wins.
		if written != nil && (written.Phase == corev1.PodSucceeded || written.Phase == corev1.PodFailed) {
			st.Phase = written.Phase
		}
		return st
	case written != nil:
		return written.DeepCopy()
	}
	return pod.Status.DeepCopy()
}

// statusTarget is the API pod whose status reports pod: itself, or the
// mirror pod of a static pod (nil while it has none).
func (s *Syncer) statusTarget(pod *corev1.Pod) *corev1.Pod {
	if IsStatic(pod) {
		return s.Pods.Mirror(pod)
	}
	return pod
}

// writeStatus patches the pod's status when it changed since the last
// write to the same API pod.
func (s *Syncer) writeStatus(ctx context.Context, pod *corev1.Pod, status *corev1.PodStatus) error {
	target := s.statusTarget(pod)
	s.mu.Lock()
	last, lastTo := s.written[pod.UID], s.writtenTo[pod.UID]
	s.written[pod.UID] = status
	s.mu.Unlock()
	if target == nil || (lastTo == target.UID && last != nil && equality.Semantic.DeepEqual(last, status)) {
		return nil
	}
	if _, err := podstatus.Patch(ctx, s.Client, target, status); err != nil && !apierrors.IsNotFound(err) {
		s.mu.Lock()
		delete(s.writtenTo, pod.UID)
		s.mu.Unlock()
		return err
	}
	s.mu.Lock()
	s.writtenTo[pod.UID] = target.UID
	s.mu.Unlock()
	return nil
}

// syncProbes runs the probes of the pod's running containers.
func (s *Syncer) syncProbes(ctx context.Context, pod *corev1.Pod, st *podruntime.PodState) {
	running := map[string]prober.Running{}
	sb := st.Current()
	for _, c := range st.Containers {
		if c.Running() && sb != nil && c.SandboxID == sb.ID {
			if _, ok := running[c.Name]; !ok {
				running[c.Name] = prober.Running{ContainerID: c.ID, StartedAt: c.StartedAt}
			}
		}
	}
	ip := s.NodeIP()
	if sb != nil && len(sb.IPs) > 0 && !pod.Spec.HostNetwork {
		ip = sb.IPs[0]
	}
	s.Probes.Sync(ctx, pod, running, ip)
}

// cleanup removes everything of a pod the node no longer has: its
// containers are stopped (with the grace period it was deleted with),
// then removed with its sandboxes, volumes and logs.
func (s *Syncer) cleanup(ctx context.Context, uid types.UID, st *podruntime.PodState) error {
	s.mu.Lock()
	last := s.last[uid]
	s.mu.Unlock()
	grace := int64(minGracePeriod)
	if last != nil && last.DeletionGracePeriodSeconds != nil {
		grace = *last.DeletionGracePeriodSeconds
	}
	pod := last
	if pod == nil {
		pod = &corev1.Pod{}
		pod.UID = uid
	}
	if err := s.stopAll(ctx, pod, st, grace); err != nil {
		return err
	}
	for _, c := range st.Containers {
		if err := s.Runtime.RemoveContainer(ctx, c.ID); err != nil && !isNotFound(err) {
			return fmt.Errorf("remove container %s: %w", c.ID, err)
		}
		s.Probes.Forget(c.ID)
	}
	for _, sb := range st.Sandboxes {
		if err := s.Runtime.RemovePodSandbox(ctx, sb.ID); err != nil && !isNotFound(err) {
			return fmt.Errorf("remove sandbox %s: %w", sb.ID, err)
		}
	}
	s.Probes.Remove(uid)
	if err := s.Volumes.Teardown(uid); err != nil {
		return err
	}
	if s.Layout.PodLogsDir != "" {
		dirs, _ := filepath.Glob(filepath.Join(s.Layout.PodLogsDir, "*_"+string(uid)))
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
	}
	if last != nil {
		removeCgroup(s.Layout.CgroupParent(last))
	}
	s.mu.Lock()
	delete(s.last, uid)
	delete(s.waiting, uid)
	delete(s.written, uid)
	delete(s.writtenTo, uid)
	delete(s.retries, uid)
	for _, c := range st.Containers {
		delete(s.messages, c.ID)
	}
	s.mu.Unlock()
	if last != nil {
		for _, list := range [][]corev1.Container{last.Spec.InitContainers, last.Spec.Containers} {
			for _, c := range list {
				s.crashBackoff.DeleteEntry(backoffKey(last, c.Name))
			}
		}
	}
	if len(st.Containers)+len(st.Sandboxes) > 0 {
		s.log.Info("pod cleaned up", "uid", uid)
	}
	return nil
}

// gracePeriod is the pod's termination grace period in seconds.
func gracePeriod(pod *corev1.Pod) int64 {
	if pod.DeletionGracePeriodSeconds != nil {
		return *pod.DeletionGracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

// backoffKey identifies a container's CrashLoopBackOff entry.
func backoffKey(pod *corev1.Pod, name string) string {
	return string(pod.UID) + "/" + name
}
