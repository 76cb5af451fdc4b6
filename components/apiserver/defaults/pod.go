// Package defaults fills in the fields the API server defaults on the
// versioned (v1) types, as upstream's SetDefaults_* functions
// (k8s.io/kubernetes/pkg/apis/*/v1/defaults.go and their declarative
// +default tags) do, plus the mutations upstream's default admission chain
// applies to new pods. Every exported function is idempotent: applying it
// twice gives the same object as applying it once.
package defaults

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Pod defaults a pod: the spec defaults shared with pod templates, the
// pod-only defaults of upstream's SetDefaults_Pod, and what the
// ServiceAccount, Priority and DefaultTolerationSeconds admission plugins set.
func Pod(p *corev1.Pod) {
	spec := &p.Spec
	podOnly(spec)
	podSpec(spec)
	admitPod(p)
	spec.DeprecatedServiceAccount = spec.ServiceAccountName
}

// podOnly applies what SetDefaults_Pod sets on pods but not on templates:
// requests default to limits, service links are on, and host-network pods
// publish every container port on the host.
func podOnly(spec *corev1.PodSpec) {
	for i := range spec.Containers {
		requestsFromLimits(&spec.Containers[i].Resources)
	}
	for i := range spec.InitContainers {
		requestsFromLimits(&spec.InitContainers[i].Resources)
	}
	if spec.EnableServiceLinks == nil {
		on := corev1.DefaultEnableServiceLinks
		spec.EnableServiceLinks = &on
	}
	if spec.HostNetwork {
		hostNetworkPorts(spec.Containers)
		hostNetworkPorts(spec.InitContainers)
	}
}

func requestsFromLimits(r *corev1.ResourceRequirements) {
	if r.Limits == nil {
		return
	}
	if r.Requests == nil {
		r.Requests = make(corev1.ResourceList, len(r.Limits))
	}
	for name, limit := range r.Limits {
		if _, ok := r.Requests[name]; !ok {
			r.Requests[name] = limit.DeepCopy()
		}
	}
}

func hostNetworkPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			if containers[i].Ports[j].HostPort == 0 {
				containers[i].Ports[j].HostPort = containers[i].Ports[j].ContainerPort
			}
		}
	}
}

// PodTemplateSpec defaults the spec of a pod template as upstream's
// SetDefaults_PodSpec and the per-field defaults do. Pod-only defaults
// (requests from limits, service links, admission) are not applied.
func PodTemplateSpec(t *corev1.PodTemplateSpec) {
	podSpec(&t.Spec)
}

// podSpec applies the defaults every PodSpec gets, in a pod or a template.
func podSpec(spec *corev1.PodSpec) {
	// serviceAccount is the deprecated alias of serviceAccountName; the
	// newer field wins and the old one mirrors it on output.
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName

	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		period := int64(corev1.DefaultTerminationGracePeriodSeconds)
		spec.TerminationGracePeriodSeconds = &period
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	for i := range spec.Volumes {
		volume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		container(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		container(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		container((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	roundResources(spec.Overhead)
	if spec.Resources != nil {
		roundResources(spec.Resources.Limits)
		roundResources(spec.Resources.Requests)
	}
}

// container applies SetDefaults_Container and the defaults of the fields a
// container holds: ports, env, resources, probes and lifecycle handlers.
func container(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = pullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if from := c.Env[i].ValueFrom; from != nil {
			fieldSelector(from.FieldRef)
		}
	}
	roundResources(c.Resources.Limits)
	roundResources(c.Resources.Requests)
	probe(c.LivenessProbe)
	probe(c.ReadinessProbe)
	probe(c.StartupProbe)
	if c.Lifecycle != nil {
		if c.Lifecycle.PostStart != nil {
			httpGet(c.Lifecycle.PostStart.HTTPGet)
		}
		if c.Lifecycle.PreStop != nil {
			httpGet(c.Lifecycle.PreStop.HTTPGet)
		}
	}
}

// pullPolicy is Always for images tagged :latest or not tagged at all (and
// not pinned by digest), IfNotPresent otherwise, as upstream decides it.
func pullPolicy(image string) corev1.PullPolicy {
	if imageTag(image) == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// imageTag returns the tag of an image reference: "latest" when it has
// neither tag nor digest, "" when it cannot be parsed or has only a digest.
func imageTag(image string) string {
	if image == "" {
		return ""
	}
	name, digest := image, ""
	if at := strings.LastIndexByte(image, '@'); at >= 0 {
		name, digest = image[:at], image[at+1:]
	}
	tag := ""
	if colon := strings.LastIndexByte(name, ':'); colon >= 0 && colon > strings.LastIndexByte(name, '/') {
		tag = name[colon+1:]
		name = name[:colon]
	}
	if name == "" || !validRepository(name) {
		return ""
	}
	if tag == "" && digest == "" {
		return "latest"
	}
	return tag
}

// validRepository rejects what the reference parser rejects most often:
// upper case letters in the path (the registry host may have them) and
// whitespace.
func validRepository(name string) bool {
	path := name
	if host, rest, ok := strings.Cut(name, "/"); ok && (strings.ContainsAny(host, ".:") || host == "localhost") {
		path = rest
	}
	return !strings.ContainsAny(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZ \t")
}

// probe applies SetDefaults_Probe and the defaults of its handler.
func probe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	httpGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		service := ""
		p.GRPC.Service = &service
	}
}

// httpGet applies SetDefaults_HTTPGetAction.
func httpGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

// fieldSelector applies SetDefaults_ObjectFieldSelector.
func fieldSelector(f *corev1.ObjectFieldSelector) {
	if f != nil && f.APIVersion == "" {
		f.APIVersion = "v1"
	}
}

// roundResources applies SetDefaults_ResourceList: quantities are rounded up
// to milli precision.
func roundResources(list corev1.ResourceList) {
	for name, q := range list {
		q.RoundUp(resource.Milli)
		list[name] = q
	}
}
