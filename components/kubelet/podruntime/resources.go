package podruntime

import (
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CFS constants and OOM score adjustments, as upstream's kubelet.
const (
	cpuPeriod       = 100000
	minShares       = 2
	maxShares       = 262144
	minQuota        = 1000
	guaranteedOOM   = -997
	bestEffortOOM   = 1000
	burstableMinOOM = 2
	burstableMaxOOM = 999
)

// QOSClass is the pod's QoS class: the one the API server recorded, else
// computed as upstream (Guaranteed when every container limits CPU and
// memory at its requests, BestEffort when none requests or limits either).
func QOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	any, guaranteed := false, true
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, hasReq := c.Resources.Requests[name]
				lim, hasLim := c.Resources.Limits[name]
				if hasReq && !req.IsZero() || hasLim && !lim.IsZero() {
					any = true
				}
				if !hasLim || lim.IsZero() || hasReq && req.Cmp(lim) != 0 {
					guaranteed = false
				}
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// Resources are container c's Linux resources: CPU shares from its CPU
// request, a CFS quota from its CPU limit, its memory limit, and the OOM
// score adjustment of its QoS class. memoryCapacity is the node's memory,
// which scales burstable containers' OOM scores.
func Resources(pod *corev1.Pod, c *corev1.Container, memoryCapacity int64) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{CpuPeriod: cpuPeriod, CpuShares: minShares}
	cpuReq, hasReq := c.Resources.Requests[corev1.ResourceCPU]
	cpuLim, hasLim := c.Resources.Limits[corev1.ResourceCPU]
	if !hasReq && hasLim {
		cpuReq, hasReq = cpuLim, true
	}
	if hasReq {
		r.CpuShares = min(max(cpuReq.MilliValue()*1024/1000, minShares), maxShares)
	}
	if hasLim && !cpuLim.IsZero() {
		r.CpuQuota = max(cpuLim.MilliValue()*cpuPeriod/1000, minQuota)
	}
	if mem, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimitInBytes = mem.Value()
	}
	r.OomScoreAdj = oomScoreAdj(pod, c, memoryCapacity)
	return r
}

// oomScoreAdj is upstream's OOM score policy.
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, memoryCapacity int64) int64 {
	switch QOSClass(pod) {
	case corev1.PodQOSGuaranteed:
		return guaranteedOOM
	case corev1.PodQOSBestEffort:
		return bestEffortOOM
	}
	if memoryCapacity <= 0 {
		return burstableMaxOOM
	}
	req := c.Resources.Requests[corev1.ResourceMemory]
	adj := 1000 - (1000*req.Value())/memoryCapacity
	return min(max(adj, burstableMinOOM), burstableMaxOOM)
}
