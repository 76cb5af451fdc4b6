package scheduler

import (
	"context"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderElection configures leader election on a Lease; zero values take
// upstream's defaults.
type LeaderElection struct {
	// Namespace and Name name the Lease (kube-system/kube-scheduler).
	Namespace, Name string
	// Identity is this candidate's holder identity (hostname_uuid).
	Identity string
	// LeaseDuration (15s), RenewDeadline (10s) and RetryPeriod (2s) are the
	// usual leader election timings.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

func (le *LeaderElection) complete() error {
	if le.Namespace == "" {
		le.Namespace = "kube-system"
	}
	if le.Name == "" {
		le.Name = "kube-scheduler"
	}
	if le.Identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("leader election identity: %w", err)
		}
		le.Identity = host + "_" + string(uuid.NewUUID())
	}
	if le.LeaseDuration == 0 {
		le.LeaseDuration = 15 * time.Second
	}
	if le.RenewDeadline == 0 {
		le.RenewDeadline = 10 * time.Second
	}
	if le.RetryPeriod == 0 {
		le.RetryPeriod = 2 * time.Second
	}
	if le.LeaseDuration <= le.RenewDeadline || le.RenewDeadline <= le.RetryPeriod {
		return fmt.Errorf("leader election: want lease duration %v > renew deadline %v > retry period %v",
			le.LeaseDuration, le.RenewDeadline, le.RetryPeriod)
	}
	return nil
}

// runLeaderElection schedules while holding the Lease. It returns nil when
// ctx ends and ErrLeadershipLost when the Lease is lost.
func (s *Scheduler) runLeaderElection(ctx context.Context) error {
	le := s.opts.LeaderElection
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: le.Namespace, Name: le.Name},
		Client:     s.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: le.Identity, EventRecorder: s.recorder},
	}
	// OnStartedLeading hands its context over so that the scheduling loop
	// runs here and has stopped before Run returns.
	leading := make(chan context.Context, 1)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   le.LeaseDuration,
		RenewDeadline:   le.RenewDeadline,
		RetryPeriod:     le.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            le.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) { leading <- ctx },
			OnStoppedLeading: func() {},
			OnNewLeader: func(identity string) {
				s.log.Info("leader", "lease", le.Namespace+"/"+le.Name, "holder", identity, "self", identity == le.Identity)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		elector.Run(ctx)
	}()
	select {
	case lctx := <-leading:
		s.leading.Store(true)
		s.schedule(lctx)
		s.leading.Store(false)
		<-done
	case <-done:
	}
	if ctx.Err() != nil {
		return nil
	}
	s.log.Error("lost the scheduler lease", "lease", le.Namespace+"/"+le.Name)
	return ErrLeadershipLost
}
