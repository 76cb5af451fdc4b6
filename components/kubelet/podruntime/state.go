package podruntime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/types"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Sandbox is one of a pod's sandboxes as the runtime reports it.
type Sandbox struct {
	ID        string
	Attempt   uint32
	Ready     bool
	CreatedAt time.Time
	// IPs are the pod's addresses (from the sandbox status; none for a
	// sandbox that is not ready).
	IPs []string
}

// Container is one of a pod's containers as the runtime reports it.
type Container struct {
	ID        string
	SandboxID string
	Name      string
	Init      bool
	State     runtimeapi.ContainerState
	// RestartCount is the number of restarts before this container.
	RestartCount int32
	// Hash is the hash of the container spec it was created from.
	Hash string
	// Image and ImageRef are what the runtime ran.
	Image, ImageRef                  string
	CreatedAt, StartedAt, FinishedAt time.Time
	ExitCode                         int32
	// Reason and Message are the runtime's (OOMKilled, Error, ...).
	Reason, Message string
	// LogPath is the container's log file.
	LogPath     string
	Annotations map[string]string

	podUID types.UID
}

// Running reports whether the container runs.
func (c *Container) Running() bool { return c.State == runtimeapi.ContainerState_CONTAINER_RUNNING }

// Exited reports whether the container ran and stopped.
func (c *Container) Exited() bool { return c.State == runtimeapi.ContainerState_CONTAINER_EXITED }

// PodState is the runtime's view of one pod.
type PodState struct {
	UID types.UID
	// Sandboxes are newest first.
	Sandboxes []*Sandbox
	// Containers are newest first.
	Containers []*Container
}

// Current is the newest sandbox (nil: none).
func (s *PodState) Current() *Sandbox {
	if s == nil || len(s.Sandboxes) == 0 {
		return nil
	}
	return s.Sandboxes[0]
}

// Latest returns the newest container named name (nil: none).
func (s *PodState) Latest(name string) *Container {
	for _, c := range s.Containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Previous returns the newest container named name that exited before
// the latest one (nil: none).
func (s *PodState) Previous(name string) *Container {
	seen := false
	for _, c := range s.Containers {
		if c.Name != name {
			continue
		}
		if seen && c.Exited() {
			return c
		}
		seen = true
	}
	return nil
}

// InSandbox returns the newest container named name of sandbox id.
func (s *PodState) InSandbox(id, name string) *Container {
	for _, c := range s.Containers {
		if c.Name == name && c.SandboxID == id {
			return c
		}
	}
	return nil
}

// Running lists the running containers.
func (s *PodState) Running() []*Container {
	var out []*Container
	for _, c := range s.Containers {
		if c.Running() {
			out = append(out, c)
		}
	}
	return out
}

// Reader reads pods' runtime state, caching the status of containers
// whose state did not change since it was read (an exited container's
// status never changes).
type Reader struct {
	rt internalapi.RuntimeService

	mu    sync.Mutex
	cache map[string]*Container // by container ID
}

// NewReader returns a Reader over rt.
func NewReader(rt internalapi.RuntimeService) *Reader {
	return &Reader{rt: rt, cache: map[string]*Container{}}
}

// Pod reads the sandboxes and containers labelled with the pod's uid.
func (r *Reader) Pod(ctx context.Context, uid types.UID) (*PodState, error) {
	sel := map[string]string{LabelPodUID: string(uid)}
	sandboxes, err := r.rt.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes of pod %s: %w", uid, err)
	}
	containers, err := r.rt.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list containers of pod %s: %w", uid, err)
	}
	return r.build(ctx, uid, sandboxes, containers)
}

// build turns listed sandboxes and containers into a PodState.
func (r *Reader) build(ctx context.Context, uid types.UID, sandboxes []*runtimeapi.PodSandbox, containers []*runtimeapi.Container) (*PodState, error) {
	st := &PodState{UID: uid}
	for _, sb := range sandboxes {
		s := &Sandbox{ID: sb.Id, Attempt: sb.GetMetadata().GetAttempt(), CreatedAt: time.Unix(0, sb.CreatedAt),
			Ready: sb.State == runtimeapi.PodSandboxState_SANDBOX_READY}
		if s.Ready {
			resp, err := r.rt.PodSandboxStatus(ctx, sb.Id, false)
			if err != nil {
				return nil, fmt.Errorf("status of sandbox %s: %w", sb.Id, err)
			}
			if n := resp.GetStatus().GetNetwork(); n != nil && n.Ip != "" {
				s.IPs = append(s.IPs, n.Ip)
				for _, ip := range n.AdditionalIps {
					s.IPs = append(s.IPs, ip.Ip)
				}
			}
			// The list can be stale: trust the status.
			s.Ready = resp.GetStatus().GetState() == runtimeapi.PodSandboxState_SANDBOX_READY
		}
		st.Sandboxes = append(st.Sandboxes, s)
	}
	sort.SliceStable(st.Sandboxes, func(i, j int) bool {
		a, b := st.Sandboxes[i], st.Sandboxes[j]
		if a.Attempt != b.Attempt {
			return a.Attempt > b.Attempt
		}
		return a.CreatedAt.After(b.CreatedAt)
	})
	live := make(map[string]bool, len(containers))
	for _, c := range containers {
		live[c.Id] = true
		ct, err := r.container(ctx, c)
		if err != nil {
			return nil, err
		}
		if ct != nil {
			st.Containers = append(st.Containers, ct)
		}
	}
	sort.SliceStable(st.Containers, func(i, j int) bool {
		a, b := st.Containers[i], st.Containers[j]
		if a.Name == b.Name && a.RestartCount != b.RestartCount {
			return a.RestartCount > b.RestartCount
		}
		return a.CreatedAt.After(b.CreatedAt)
	})
	r.forgetMissing(uid, live)
	return st, nil
}

// container returns c's details, from the cache while its state is the
// cached one. A container removed meanwhile is skipped (nil).
func (r *Reader) container(ctx context.Context, c *runtimeapi.Container) (*Container, error) {
	r.mu.Lock()
	cached := r.cache[c.Id]
	r.mu.Unlock()
	if cached != nil && cached.State == c.State {
		return cached, nil
	}
	resp, err := r.rt.ContainerStatus(ctx, c.Id, false)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("status of container %s: %w", c.Id, err)
	}
	s := resp.GetStatus()
	if s == nil {
		return nil, nil
	}
	ct := &Container{
		ID: c.Id, SandboxID: c.PodSandboxId, Name: c.GetMetadata().GetName(),
		Init:  c.Labels[LabelContainerType] == ContainerTypeInit,
		State: s.State, RestartCount: restartCountOf(c.Annotations), Hash: c.Annotations[AnnotationContainerHash],
		Image: s.GetImage().GetImage(), ImageRef: s.ImageRef,
		CreatedAt: time.Unix(0, s.CreatedAt), ExitCode: s.ExitCode, Reason: s.Reason, Message: s.Message,
		LogPath: s.LogPath, Annotations: c.Annotations, podUID: PodUIDOf(c.Labels),
	}
	if s.StartedAt > 0 {
		ct.StartedAt = time.Unix(0, s.StartedAt)
	}
	if s.FinishedAt > 0 {
		ct.FinishedAt = time.Unix(0, s.FinishedAt)
	}
	r.mu.Lock()
	r.cache[c.Id] = ct
	r.mu.Unlock()
	return ct, nil
}

// forgetMissing drops cached containers of uid the runtime no longer has.
func (r *Reader) forgetMissing(uid types.UID, live map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range r.cache {
		if !live[id] && c.podUID == uid {
			delete(r.cache, id)
		}
	}
}

// isNotFound reports whether err is the runtime's NotFound.
func isNotFound(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	return errors.As(err, &se) && se.GRPCStatus().Code() == codes.NotFound
}
