package framework

import (
	"fmt"
	"sort"
	"strings"
)

// Reasons a node does not fit a pod, worded as upstream's plugins word them
// (they appear in FailedScheduling events and the PodScheduled condition).
const (
	ReasonUnschedulable                = "node(s) were unschedulable"
	ReasonNodeSelector                 = "node(s) didn't match Pod's node affinity/selector"
	ReasonPorts                        = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods                  = "Too many pods"
	ReasonAffinityNotMatch             = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinityNotMatch         = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAntiAffinityNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
	// ReasonNoNodes is the message when the cluster has no nodes at all.
	ReasonNoNodes = "no nodes available to schedule pods"
)

// Status is why a node does not fit a pod; a nil *Status means it fits.
type Status struct {
	Reasons []string
}

// Unfit returns a Status with the given reasons.
func Unfit(reasons ...string) *Status { return &Status{Reasons: reasons} }

// Static statuses for the reasons that carry no detail, so failing a node
// allocates nothing.
var (
	statusUnschedulable        = Unfit(ReasonUnschedulable)
	statusNodeSelector         = Unfit(ReasonNodeSelector)
	statusPorts                = Unfit(ReasonPorts)
	statusAffinityNotMatch     = Unfit(ReasonAffinityNotMatch)
	statusAntiAffinityNotMatch = Unfit(ReasonAntiAffinityNotMatch)
	statusExistingAntiAffinity = Unfit(ReasonExistingAntiAffinityNotMatch)
	statusTooManyPods          = Unfit(ReasonTooManyPods)
	statusInsufficientCPU      = Unfit(insufficient("cpu"))
	statusInsufficientMemory   = Unfit(insufficient("memory"))
)

func insufficient(resource string) string { return "Insufficient " + resource }

// FitError says a pod fits no node: how many nodes there were, and how
// many nodes failed for each reason.
type FitError struct {
	NumAllNodes int
	Reasons     map[string]int
}

// NewFitError counts the reasons of the failed statuses (nil entries are
// skipped).
func NewFitError(numAllNodes int, statuses []*Status) *FitError {
	e := &FitError{NumAllNodes: numAllNodes, Reasons: map[string]int{}}
	for _, s := range statuses {
		if s == nil {
			continue
		}
		for _, r := range s.Reasons {
			e.Reasons[r]++
		}
	}
	return e
}

// Error formats upstream's message: "0/3 nodes are available: 3
// Insufficient cpu." with the "count reason" entries sorted as strings.
func (e *FitError) Error() string {
	if e.NumAllNodes == 0 {
		return ReasonNoNodes
	}
	msg := fmt.Sprintf("0/%d nodes are available:", e.NumAllNodes)
	entries := make([]string, 0, len(e.Reasons))
	for r, n := range e.Reasons {
		entries = append(entries, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(entries)
	if len(entries) > 0 {
		msg += " " + strings.Join(entries, ", ") + "."
	}
	return msg
}
