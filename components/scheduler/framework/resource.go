package framework

import (
	corev1 "k8s.io/api/core/v1"
)

// Defaults counted for a container that requests no CPU or memory, so that
// scoring spreads such pods (upstream's DefaultMilliCPURequest and
// DefaultMemoryRequest).
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// Resource is an amount of each schedulable resource: CPU in millicores,
// memory and ephemeral storage in bytes, and extended resources (hugepages,
// example.com/gpu, ...) in their own units.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// Scalar holds the extended resources; nil when there are none.
	Scalar map[corev1.ResourceName]int64
}

// NewResource converts a resource list.
func NewResource(list corev1.ResourceList) Resource {
	var r Resource
	for name, q := range list {
		switch name {
		case corev1.ResourceCPU:
			r.MilliCPU = q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory = q.Value()
		case corev1.ResourceEphemeralStorage:
			r.EphemeralStorage = q.Value()
		case corev1.ResourcePods:
			// counted by the number of pods, not as a request
		default:
			if r.Scalar == nil {
				r.Scalar = map[corev1.ResourceName]int64{}
			}
			r.Scalar[name] = q.Value()
		}
	}
	return r
}

// Add adds o to r.
func (r *Resource) Add(o *Resource) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.EphemeralStorage += o.EphemeralStorage
	for name, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = make(map[corev1.ResourceName]int64, len(o.Scalar))
		}
		r.Scalar[name] += v
	}
}

// Sub subtracts o from r.
func (r *Resource) Sub(o *Resource) {
	r.MilliCPU -= o.MilliCPU
	r.Memory -= o.Memory
	r.EphemeralStorage -= o.EphemeralStorage
	for name, v := range o.Scalar {
		if r.Scalar != nil {
			r.Scalar[name] -= v
			if r.Scalar[name] == 0 {
				delete(r.Scalar, name)
			}
		}
	}
}

// setMax raises each of r's amounts to o's where o's is larger.
func (r *Resource) setMax(o *Resource) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, o.EphemeralStorage)
	for name, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = make(map[corev1.ResourceName]int64, len(o.Scalar))
		}
		if v > r.Scalar[name] {
			r.Scalar[name] = v
		}
	}
}

func (r *Resource) clone() Resource {
	c := *r
	if r.Scalar != nil {
		c.Scalar = make(map[corev1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			c.Scalar[k] = v
		}
	}
	return c
}

// podRequest is what a pod requests, plus the CPU and memory counted for
// scoring with the defaults for containers that request none.
type podRequest struct {
	res          Resource
	nzCPU, nzMem int64
}

func (p *podRequest) add(o *podRequest) {
	p.res.Add(&o.res)
	p.nzCPU += o.nzCPU
	p.nzMem += o.nzMem
}

func (p *podRequest) setMax(o *podRequest) {
	p.res.setMax(&o.res)
	p.nzCPU = max(p.nzCPU, o.nzCPU)
	p.nzMem = max(p.nzMem, o.nzMem)
}

func (p *podRequest) clone() podRequest {
	return podRequest{res: p.res.clone(), nzCPU: p.nzCPU, nzMem: p.nzMem}
}

func containerRequest(c *corev1.Container) podRequest {
	req := c.Resources.Requests
	p := podRequest{res: NewResource(req)}
	p.nzCPU, p.nzMem = p.res.MilliCPU, p.res.Memory
	if _, ok := req[corev1.ResourceCPU]; !ok {
		p.nzCPU = DefaultMilliCPURequest
	}
	if _, ok := req[corev1.ResourceMemory]; !ok {
		p.nzMem = DefaultMemoryRequest
	}
	return p
}

// computePodRequest applies upstream's rule: the sum of the app containers
// and of the restartable (sidecar) init containers, or the largest init
// container (plus the sidecars started before it) if that is more, plus the
// pod overhead. Pod-level requests override CPU and memory.
func computePodRequest(pod *corev1.Pod) podRequest {
	var total podRequest
	for i := range pod.Spec.Containers {
		c := containerRequest(&pod.Spec.Containers[i])
		total.add(&c)
	}
	var initMax, sidecars podRequest
	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		c := containerRequest(ic)
		if ic.RestartPolicy != nil && *ic.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			total.add(&c)
			sidecars.add(&c)
			c = sidecars.clone()
		} else {
			c.add(&sidecars)
		}
		initMax.setMax(&c)
	}
	total.setMax(&initMax)
	if pr := pod.Spec.Resources; pr != nil {
		if q, ok := pr.Requests[corev1.ResourceCPU]; ok {
			total.res.MilliCPU, total.nzCPU = q.MilliValue(), q.MilliValue()
		}
		if q, ok := pr.Requests[corev1.ResourceMemory]; ok {
			total.res.Memory, total.nzMem = q.Value(), q.Value()
		}
	}
	if pod.Spec.Overhead != nil {
		o := NewResource(pod.Spec.Overhead)
		total.res.Add(&o)
		total.nzCPU += o.MilliCPU
		total.nzMem += o.Memory
	}
	return total
}
