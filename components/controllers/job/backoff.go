package job

import (
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Pod failure backoff: a job waits before recreating a failed pod, 10s
// doubling with each consecutive failure, capped at 6 minutes (upstream's
// DefaultJobPodFailureBackOff and MaxJobPodFailureBackOff). Variables so
// tests can shorten them.
var (
	podFailureBackoff    = 10 * time.Second
	maxPodFailureBackoff = 6 * time.Minute
)

// backoffRecord counts a job's pod failures since its last success.
type backoffRecord struct {
	failuresAfterLastSuccess int32
	lastFailureTime          time.Time
}

// remaining returns how long pod creation must still wait at now.
func (r backoffRecord) remaining(now time.Time) time.Duration {
	if r.failuresAfterLastSuccess == 0 {
		return 0
	}
	d := podFailureBackoff
	for i := int32(1); i < r.failuresAfterLastSuccess && d < maxPodFailureBackoff; i++ {
		d *= 2
	}
	d = min(d, maxPodFailureBackoff)
	if elapsed := now.Sub(r.lastFailureTime); elapsed < d {
		return d - elapsed
	}
	return 0
}

// backoffStore keeps the records in memory (as upstream; a restarted
// controller starts without backoff).
type backoffStore struct {
	mu sync.Mutex
	m  map[string]backoffRecord
}

func newBackoffStore() *backoffStore { return &backoffStore{m: map[string]backoffRecord{}} }

// next returns key's record updated with pods that finished since the
// last sync; it is stored by commit once they are counted in status.
func (s *backoffStore) next(key string, succeeded, failed []*corev1.Pod, now time.Time) backoffRecord {
	s.mu.Lock()
	rec := s.m[key]
	s.mu.Unlock()
	if len(succeeded) == 0 && len(failed) == 0 {
		return rec
	}
	byFinish := func(pods []*corev1.Pod) []time.Time {
		out := make([]time.Time, 0, len(pods))
		for _, p := range pods {
			out = append(out, finishTime(p, now))
		}
		slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
		return out
	}
	fails := byFinish(failed)
	if len(succeeded) > 0 {
		ok := byFinish(succeeded)
		lastSuccess := ok[len(ok)-1]
		rec = backoffRecord{}
		for _, f := range fails {
			if f.After(lastSuccess) {
				rec.failuresAfterLastSuccess++
				rec.lastFailureTime = f
			}
		}
		return rec
	}
	rec.failuresAfterLastSuccess += int32(len(fails))
	rec.lastFailureTime = fails[len(fails)-1]
	return rec
}

func (s *backoffStore) commit(key string, rec backoffRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = rec
}

func (s *backoffStore) remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

// finishTime is when a pod finished: its last container termination, else
// when it stopped being ready, else its deletion, else now.
func finishTime(p *corev1.Pod, now time.Time) time.Time {
	var t time.Time
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if !t.IsZero() {
		return t
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.DeletionTimestamp != nil {
		return p.DeletionTimestamp.Time
	}
	return now
}
