package framework

import (
	"math"

	corev1 "k8s.io/api/core/v1"
)

// MaxNodeScore is the highest score one scoring function gives a node.
const MaxNodeScore int64 = 100

// The scoring functions, with upstream's default weights.
const (
	scoreTaint          = iota // TaintToleration, weight 3
	scoreNodeAffinity          // NodeAffinity, weight 2
	scoreLeastAllocated        // NodeResourcesFit LeastAllocated, weight 1
	scoreBalanced              // NodeResourcesBalancedAllocation, weight 1
	scoreSpread                // spreading of the owner's pods, weight 2
	scoreInterPod              // InterPodAffinity, weight 2
	numScores
)

var scoreWeights = [numScores]int64{3, 2, 1, 1, 2, 2}

// hardPodAffinityWeight is what an existing pod's required affinity term
// that selects the incoming pod adds to a domain's score.
const hardPodAffinityWeight = 1

type scoreScratch struct {
	raw      [numScores][]int64
	enabled  [numScores]bool
	topology map[string]map[string]int64
	zones    map[string]int64
}

// Score computes the weighted total score of each feasible node into
// totals (which must have len(feasible)). all are all nodes (for pod
// affinity preferences); anyAffinity says whether any existing pod has pod
// (anti-)affinity terms. parallel runs fn for 0..n-1, possibly
// concurrently.
func (c *Cycle) Score(all, feasible []*NodeInfo, anyAffinity bool, totals []int64, parallel func(n int, fn func(i int))) {
	pi, s := c.Pod, &c.scratch
	s.enabled = [numScores]bool{
		scoreTaint:          true,
		scoreNodeAffinity:   len(pi.PreferredNodeTerms) > 0,
		scoreLeastAllocated: true,
		scoreBalanced:       pi.Requests.MilliCPU > 0 || pi.Requests.Memory > 0,
		scoreSpread:         pi.Owner != "",
	}
	s.enabled[scoreInterPod] = c.preScoreInterPod(all, anyAffinity)
	for k := range s.raw {
		if s.enabled[k] {
			if cap(s.raw[k]) < len(feasible) {
				s.raw[k] = make([]int64, len(feasible), len(feasible)+len(feasible)/4)
			}
			s.raw[k] = s.raw[k][:len(feasible)]
		}
	}
	parallel(len(feasible), func(i int) {
		n := feasible[i]
		if s.enabled[scoreTaint] {
			s.raw[scoreTaint][i] = preferNoScheduleCount(pi, n)
		}
		if s.enabled[scoreNodeAffinity] {
			s.raw[scoreNodeAffinity][i] = preferredNodeWeight(pi, n)
		}
		s.raw[scoreLeastAllocated][i] = LeastAllocated(pi, n)
		if s.enabled[scoreBalanced] {
			s.raw[scoreBalanced][i] = BalancedAllocation(pi, n)
		}
		if s.enabled[scoreSpread] {
			s.raw[scoreSpread][i] = int64(n.OwnerCount(pi.Owner))
		}
		if s.enabled[scoreInterPod] {
			s.raw[scoreInterPod][i] = c.interPodScore(n)
		}
	})
	if s.enabled[scoreTaint] {
		normalize(s.raw[scoreTaint], true)
	}
	if s.enabled[scoreNodeAffinity] {
		normalize(s.raw[scoreNodeAffinity], false)
	}
	if s.enabled[scoreSpread] {
		c.normalizeSpread(feasible, s.raw[scoreSpread])
	}
	if s.enabled[scoreInterPod] {
		normalizeMinMax(s.raw[scoreInterPod])
	}
	for i := range totals {
		var t int64
		for k := range s.raw {
			if s.enabled[k] {
				t += scoreWeights[k] * s.raw[k][i]
			}
		}
		totals[i] = t
	}
}

// normalize scales scores to 0..MaxNodeScore by their maximum (upstream's
// DefaultNormalizeScore); reverse makes the lowest count the best.
func normalize(scores []int64, reverse bool) {
	var hi int64
	for _, v := range scores {
		hi = max(hi, v)
	}
	for i := range scores {
		switch {
		case hi == 0 && reverse:
			scores[i] = MaxNodeScore
		case hi == 0:
		case reverse:
			scores[i] = MaxNodeScore - MaxNodeScore*scores[i]/hi
		default:
			scores[i] = MaxNodeScore * scores[i] / hi
		}
	}
}

func normalizeMinMax(scores []int64) {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, v := range scores {
		lo, hi = min(lo, v), max(hi, v)
	}
	for i := range scores {
		if hi > lo {
			scores[i] = int64(float64(MaxNodeScore) * float64(scores[i]-lo) / float64(hi-lo))
		} else {
			scores[i] = 0
		}
	}
}

// preferNoScheduleCount counts the node's PreferNoSchedule taints the pod
// does not tolerate.
func preferNoScheduleCount(pi *PodInfo, n *NodeInfo) int64 {
	var count int64
	for i := range n.Taints {
		if n.Taints[i].Effect == corev1.TaintEffectPreferNoSchedule && !Tolerates(pi.Pod.Spec.Tolerations, &n.Taints[i]) {
			count++
		}
	}
	return count
}

// preferredNodeWeight sums the weights of the preferred node affinity terms
// the node matches.
func preferredNodeWeight(pi *PodInfo, n *NodeInfo) int64 {
	var w int64
	for i := range pi.PreferredNodeTerms {
		if pi.PreferredNodeTerms[i].matches(n.Node) {
			w += pi.PreferredNodeTerms[i].Weight
		}
	}
	return w
}

// LeastAllocated favours nodes with the most CPU and memory left after
// placing the pod (requests counted with the non-zero defaults).
func LeastAllocated(pi *PodInfo, n *NodeInfo) int64 {
	cpu := leastRequested(n.NonZeroCPU+pi.NonZeroCPU, n.Allocatable.MilliCPU)
	mem := leastRequested(n.NonZeroMemory+pi.NonZeroMemory, n.Allocatable.Memory)
	return (cpu + mem) / 2
}

func leastRequested(requested, capacity int64) int64 {
	if capacity <= 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * MaxNodeScore / capacity
}

// BalancedAllocation favours nodes whose CPU and memory would be used in
// equal fractions after placing the pod: (1 - the fractions' standard
// deviation) * 100.
func BalancedAllocation(pi *PodInfo, n *NodeInfo) int64 {
	cpuAlloc, memAlloc := n.Allocatable.MilliCPU, n.Allocatable.Memory
	if cpuAlloc <= 0 || memAlloc <= 0 {
		// One fraction or none: no deviation.
		return MaxNodeScore
	}
	cpu := min(float64(n.Requested.MilliCPU+pi.Requests.MilliCPU)/float64(cpuAlloc), 1)
	mem := min(float64(n.Requested.Memory+pi.Requests.Memory)/float64(memAlloc), 1)
	std := (cpu - mem) / 2
	if std < 0 {
		std = -std
	}
	return int64((1 - std) * float64(MaxNodeScore))
}

// zoneWeighting is how much the zone counts in spreading (upstream's
// SelectorSpread: two thirds zone, one third node).
const zoneWeighting = 2.0 / 3.0

func zoneKey(node *corev1.Node) string {
	region, zone := node.Labels[corev1.LabelTopologyRegion], node.Labels[corev1.LabelTopologyZone]
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}

// normalizeSpread turns counts of the owner's pods per node into scores,
// fewest best, mixing in counts per zone when nodes have zones.
func (c *Cycle) normalizeSpread(feasible []*NodeInfo, counts []int64) {
	s := &c.scratch
	if s.zones == nil {
		s.zones = map[string]int64{}
	}
	clear(s.zones)
	var maxNode, maxZone int64
	for i, n := range feasible {
		maxNode = max(maxNode, counts[i])
		if z := zoneKey(n.Node); z != "" {
			s.zones[z] += counts[i]
		}
	}
	for _, v := range s.zones {
		maxZone = max(maxZone, v)
	}
	maxScore := float64(MaxNodeScore)
	for i, n := range feasible {
		f := maxScore
		if maxNode > 0 {
			f = maxScore * float64(maxNode-counts[i]) / float64(maxNode)
		}
		if len(s.zones) > 0 {
			if z := zoneKey(n.Node); z != "" {
				zs := maxScore
				if maxZone > 0 {
					zs = maxScore * float64(maxZone-s.zones[z]) / float64(maxZone)
				}
				f = f*(1-zoneWeighting) + zoneWeighting*zs
			}
		}
		counts[i] = int64(f)
	}
}
