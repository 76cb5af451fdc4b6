package scheduler

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubelab/kubelab/components/scheduler/cache"
	"github.com/kubelab/kubelab/components/scheduler/framework"
	"github.com/kubelab/kubelab/components/scheduler/queue"
)

// Upstream's bounds on how many feasible nodes a cycle looks for.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// scheduleOne schedules the next pod; it returns false once the queue is
// closed or ctx ended.
func (s *Scheduler) scheduleOne(ctx context.Context) bool {
	qp, err := s.queue.Pop(ctx)
	if err != nil {
		return false
	}
	pod := qp.Pod
	if s.skip(pod) {
		s.queue.Done(pod.UID)
		return true
	}
	if qp.Info == nil {
		qp.Info = framework.NewPodInfo(pod)
	}
	s.stats.attempts.Add(1)
	node, err := s.schedulePod(qp.Info)
	if err != nil {
		s.handleFailure(ctx, qp, err)
		return true
	}
	assumed := *pod
	assumed.Spec.NodeName = node
	info := *qp.Info
	info.Pod = &assumed
	if err := s.cache.AssumePod(&info); err != nil {
		// The pod is already in the cache: it is bound.
		s.log.Debug("skip pod already in cache", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		s.queue.Done(pod.UID)
		return true
	}
	s.async(ctx, func(ctx context.Context) { s.bind(ctx, qp, node) })
	return true
}

// skip reports whether a popped pod must not be scheduled: it is being
// deleted, it is no longer pending (bound or gone), or it is assumed.
func (s *Scheduler) skip(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		return true
	}
	obj, ok, err := s.unassigned.GetStore().GetByKey(pod.Namespace + "/" + pod.Name)
	if err != nil || !ok || obj.(*corev1.Pod).UID != pod.UID {
		return true
	}
	return s.cache.IsAssumed(pod.UID)
}

// schedulePod picks a node for the pod: it filters nodes round-robin from
// where the last cycle stopped until enough feasible ones are found, scores
// them and takes the best (ties broken at random). It returns a
// *framework.FitError when no node fits.
func (s *Scheduler) schedulePod(pi *framework.PodInfo) (string, error) {
	var node string
	var err error
	s.cache.Read(func(snap cache.Snapshot) {
		node, err = s.scheduleOnSnapshot(pi, snap)
	})
	return node, err
}

func (s *Scheduler) scheduleOnSnapshot(pi *framework.PodInfo, snap cache.Snapshot) (string, error) {
	nodes := snap.Nodes
	if len(nodes) == 0 {
		return "", &framework.FitError{}
	}
	c := &s.cycle
	c.Reset(pi)
	c.PreFilter(nodes, snap.AnyRequiredAntiAffinity)
	feasible := s.findFeasible(nodes, s.numFeasibleNodesToFind(len(nodes)))
	switch len(feasible) {
	case 0:
		return "", framework.NewFitError(len(nodes), s.statuses[:len(nodes)])
	case 1:
		return feasible[0].Name, nil
	}
	if cap(s.totals) < len(feasible) {
		s.totals = make([]int64, len(feasible))
	}
	totals := s.totals[:len(feasible)]
	c.Score(nodes, feasible, snap.AnyAffinity, totals, s.parallel)
	best, count := 0, 0
	for i, t := range totals {
		switch {
		case count == 0 || t > totals[best]:
			best, count = i, 1
		case t == totals[best]:
			count++
			if s.rand.IntN(count) == 0 {
				best = i
			}
		}
	}
	return feasible[best].Name, nil
}

// numFeasibleNodesToFind is upstream's adaptive sample size: all nodes
// below 100; else a percentage (50% minus 1% per 125 nodes, at least 5%,
// unless configured) but at least 100 nodes.
func (s *Scheduler) numFeasibleNodesToFind(numAll int) int {
	if numAll < minFeasibleNodesToFind {
		return numAll
	}
	pct := int(s.opts.PercentageOfNodesToScore)
	if pct == 0 {
		pct = max(50-numAll/125, minFeasibleNodesPercentageToFind)
	}
	return max(numAll*pct/100, minFeasibleNodesToFind)
}

// findFeasible runs the filters over nodes, starting after where the last
// cycle stopped, until toFind nodes fit or all were tried. The status of
// the i-th node tried is left in s.statuses[i].
func (s *Scheduler) findFeasible(nodes []*framework.NodeInfo, toFind int) []*framework.NodeInfo {
	n := len(nodes)
	if cap(s.statuses) < n {
		s.statuses = make([]*framework.Status, n, n+n/4)
	}
	statuses := s.statuses[:n]
	if cap(s.feasible) < toFind {
		s.feasible = make([]*framework.NodeInfo, toFind)
	}
	feasible := s.feasible[:toFind]
	start := s.nextStart % n
	var found, failed atomic.Int32
	check := func(i int) {
		ni := nodes[(start+i)%n]
		if st := s.cycle.Filter(ni); st != nil {
			statuses[i] = st
			failed.Add(1)
			return
		}
		statuses[i] = nil
		if k := found.Add(1); int(k) <= toFind {
			feasible[k-1] = ni
		} else {
			found.Add(-1)
		}
	}
	s.parallelUntil(n, check, func() bool { return int(found.Load()) >= toFind })
	f := int(found.Load())
	s.nextStart = (start + f + int(failed.Load())) % n
	return feasible[:f]
}

// parallel runs fn(i) for i in 0..n-1 on up to Parallelism goroutines.
func (s *Scheduler) parallel(n int, fn func(i int)) {
	s.parallelUntil(n, fn, nil)
}

// parallelUntil runs fn(i) for i in 0..n-1 in chunks on up to Parallelism
// goroutines, stopping early once done (if given) returns true.
func (s *Scheduler) parallelUntil(n int, fn func(i int), done func() bool) {
	chunk := max(1, min(int(math.Sqrt(float64(n))), 64))
	workers := min(s.opts.Parallelism, (n+chunk-1)/chunk)
	var next atomic.Int64
	work := func() {
		for {
			lo := int(next.Add(int64(chunk))) - chunk
			if lo >= n {
				return
			}
			for i := lo; i < min(lo+chunk, n); i++ {
				if done != nil && done() {
					return
				}
				fn(i)
			}
		}
	}
	if workers <= 1 || n < 32 {
		work()
		return
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// handleFailure requeues a pod that could not be scheduled and reports
// why: a FailedScheduling event and, when it fits nowhere, the
// PodScheduled=False condition.
func (s *Scheduler) handleFailure(ctx context.Context, qp *queue.QueuedPod, err error) {
	pod, attempts := qp.Pod, qp.Attempts
	var fit *framework.FitError
	unschedulable := errors.As(err, &fit)
	if unschedulable {
		s.stats.unschedulable.Add(1)
	} else {
		s.stats.errors.Add(1)
	}
	s.queue.Requeue(qp, unschedulable)
	msg := err.Error()
	s.log.Info("unable to schedule pod", "pod", pod.Namespace+"/"+pod.Name, "attempts", attempts, "reason", msg)
	s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", truncateMessage(msg))
	if !unschedulable {
		return
	}
	if !needsCondition(pod, corev1.PodReasonUnschedulable, msg) {
		return
	}
	s.async(ctx, func(ctx context.Context) { s.setUnschedulable(ctx, pod, msg) })
}

// noteLengthLimit is the longest event message upstream's scheduler sends.
const noteLengthLimit = 1024

// truncateMessage cuts a message longer than noteLengthLimit, ending it
// with " ...".
func truncateMessage(msg string) string {
	if len(msg) <= noteLengthLimit {
		return msg
	}
	const suffix = " ..."
	return msg[:noteLengthLimit-len(suffix)] + suffix
}
