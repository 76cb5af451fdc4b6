package job

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// completionIndexEnv is the variable an indexed job's containers read
// their index from.
const completionIndexEnv = "JOB_COMPLETION_INDEX"

// unknownIndex is the index of a pod without a valid one.
const unknownIndex = -1

func isIndexed(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
}

// completionIndex returns the pod's index from its annotation (or label),
// or unknownIndex.
func completionIndex(pod *corev1.Pod) int {
	v, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = pod.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return unknownIndex
	}
	ix, err := strconv.Atoi(v)
	if err != nil || ix < 0 {
		return unknownIndex
	}
	return ix
}

type interval struct{ first, last int }

// orderedIntervals is a set of indexes as sorted, disjoint, non-adjacent
// intervals: the form of status.completedIndexes ("1,3-5,7").
type orderedIntervals []interval

// parseIndexes reads status.completedIndexes, dropping what is invalid or
// not below completions.
func parseIndexes(s string, completions int) orderedIntervals {
	var out orderedIntervals
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			continue
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first {
				continue
			}
		}
		if first >= completions {
			continue
		}
		out = append(out, interval{first, min(last, completions-1)})
	}
	return out.normalized()
}

// normalized sorts and merges overlapping or adjacent intervals.
func (oi orderedIntervals) normalized() orderedIntervals {
	slices.SortFunc(oi, func(a, b interval) int { return a.first - b.first })
	var out orderedIntervals
	for _, iv := range oi {
		if n := len(out); n > 0 && iv.first <= out[n-1].last+1 {
			out[n-1].last = max(out[n-1].last, iv.last)
			continue
		}
		out = append(out, iv)
	}
	return out
}

// with returns the set plus indexes.
func (oi orderedIntervals) with(indexes []int) orderedIntervals {
	if len(indexes) == 0 {
		return oi
	}
	out := slices.Clone(oi)
	for _, ix := range indexes {
		out = append(out, interval{ix, ix})
	}
	return out.normalized()
}

func (oi orderedIntervals) has(ix int) bool {
	_, found := slices.BinarySearchFunc(oi, ix, func(iv interval, ix int) int {
		switch {
		case iv.last < ix:
			return -1
		case iv.first > ix:
			return 1
		}
		return 0
	})
	return found
}

func (oi orderedIntervals) total() int {
	n := 0
	for _, iv := range oi {
		n += iv.last - iv.first + 1
	}
	return n
}

// String formats the set as status.completedIndexes does ("1,3-5,7").
func (oi orderedIntervals) String() string {
	var b strings.Builder
	for i, iv := range oi {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(iv.first))
		if iv.last > iv.first {
			fmt.Fprintf(&b, "-%d", iv.last)
		}
	}
	return b.String()
}

// succeededIndexes returns the indexes completed before this sync (from
// status) and with the succeeded pods still holding the tracking finalizer.
func succeededIndexes(job *batchv1.Job, pods []*corev1.Pod) (prev, all orderedIntervals) {
	completions := int(*job.Spec.Completions)
	prev = parseIndexes(job.Status.CompletedIndexes, completions)
	var fresh []int
	for _, p := range pods {
		ix := completionIndex(p)
		if p.Status.Phase == corev1.PodSucceeded && hasFinalizer(p) && ix != unknownIndex && ix < completions {
			fresh = append(fresh, ix)
		}
	}
	return prev, prev.with(fresh)
}

// firstPendingIndexes returns up to count indexes below completions that
// neither succeeded nor have an active pod, lowest first.
func firstPendingIndexes(active []*corev1.Pod, succeeded orderedIntervals, count, completions int) []int {
	taken := map[int]bool{}
	for _, p := range active {
		if ix := completionIndex(p); ix != unknownIndex {
			taken[ix] = true
		}
	}
	var out []int
	for ix := 0; ix < completions && len(out) < count; ix++ {
		if !taken[ix] && !succeeded.has(ix) {
			out = append(out, ix)
		}
	}
	return out
}

// addIndexEnv gives every container JOB_COMPLETION_INDEX from the pod's
// index label, unless it sets the variable itself.
func addIndexEnv(spec *corev1.PodSpec) {
	add := func(c *corev1.Container) {
		for _, e := range c.Env {
			if e.Name == completionIndexEnv {
				return
			}
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: completionIndexEnv, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation)},
		}})
	}
	for i := range spec.InitContainers {
		add(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		add(&spec.Containers[i])
	}
}

// generateNameWithIndex is upstream's "<job>-<index>-", shortened to fit.
func generateNameWithIndex(jobName string, ix int) string {
	const maxGenerated = 58
	suffix := "-" + strconv.Itoa(ix) + "-"
	if len(jobName)+len(suffix) > maxGenerated {
		jobName = jobName[:maxGenerated-len(suffix)]
	}
	return jobName + suffix
}
