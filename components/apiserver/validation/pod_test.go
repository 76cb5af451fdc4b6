package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kubelab/kubelab/components/apiserver/defaults"
)

// validPod is a defaulted pod as `kubectl run web --image=nginx` creates it.
func validPod() *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"run": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "web",
				Image: "nginx",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
				Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
				VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}},
				Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
			}},
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1.36", Command: []string{"true"}}},
			Volumes: []corev1.Volume{
				{Name: "data"},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			},
			NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
		},
	}
	defaults.Pod(p)
	return p
}

func TestValidatePod(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []want
		msg    string
	}{
		{name: "valid", mutate: func(*corev1.Pod) {}},
		{name: "bad name", mutate: func(p *corev1.Pod) { p.Name = "Foo_bar" },
			want: []want{isInvalid("metadata.name")},
			msg:  `metadata.name: Invalid value: "Foo_bar": a lowercase RFC 1123 subdomain must consist of`},
		{name: "no namespace", mutate: func(p *corev1.Pod) { p.Namespace = "" }, want: []want{isRequired("metadata.namespace")}},
		{name: "bad label", mutate: func(p *corev1.Pod) { p.Labels["a b"] = "c" }, want: []want{isInvalid("metadata.labels")}},
		{name: "no containers", mutate: func(p *corev1.Pod) { p.Spec.Containers = nil }, want: []want{isRequired("spec.containers")}},
		{name: "container name missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" },
			want: []want{isRequired("spec.containers[0].name")}, msg: "spec.containers[0].name: Required value"},
		{name: "container name not a label", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Web" },
			want: []want{isInvalid("spec.containers[0].name")}},
		{name: "duplicate container", mutate: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, *p.Spec.Containers[0].DeepCopy())
		}, want: []want{isDuplicate("spec.containers[1].name")}, msg: `spec.containers[1].name: Duplicate value: "web"`},
		{name: "init container named like a container", mutate: func(p *corev1.Pod) { p.Spec.InitContainers[0].Name = "web" },
			want: []want{isDuplicate("spec.initContainers[0].name")}},
		{name: "image missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, want: []want{isRequired("spec.containers[0].image")}},
		{name: "image padded", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }, want: []want{isInvalid("spec.containers[0].image")}},
		{name: "port out of range", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 },
			want: []want{isInvalid("spec.containers[0].ports[0].containerPort")}},
		{name: "port missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 },
			want: []want{isRequired("spec.containers[0].ports[0].containerPort")}},
		{name: "duplicate port name", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81, Protocol: corev1.ProtocolTCP})
		}, want: []want{isDuplicate("spec.containers[0].ports[1].name")}},
		{name: "bad protocol", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "HTTP" },
			want: []want{isNotSupported("spec.containers[0].ports[0].protocol")}},
		{name: "request above limit", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
		}, want: []want{isInvalid("spec.containers[0].resources.requests")}, msg: "must be less than or equal to cpu limit of 500m"},
		{name: "unknown resource", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits["cpus"] = resource.MustParse("1")
			p.Spec.Containers[0].Resources.Requests["cpus"] = resource.MustParse("1")
		}, want: []want{
			isInvalid("spec.containers[0].resources.limits[cpus]"), isInvalid("spec.containers[0].resources.limits[cpus]"),
			isInvalid("spec.containers[0].resources.requests[cpus]"), isInvalid("spec.containers[0].resources.requests[cpus]"),
		}},
		{name: "extended resource request without limit", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("1")
		}, want: []want{isRequired("spec.containers[0].resources.limits")}},
		{name: "duplicate volume", mutate: func(p *corev1.Pod) { p.Spec.Volumes[1].Name = "data" },
			want: []want{isDuplicate("spec.volumes[1].name")}},
		{name: "two volume sources", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: "/tmp"}
		}, want: []want{isForbidden("spec.volumes[0].hostPath"), isNotFound("spec.containers[0].volumeMounts[0].name")}},
		{name: "no volume source", mutate: func(p *corev1.Pod) { p.Spec.Volumes[1].ConfigMap = nil },
			want: []want{isRequired("spec.volumes[1]")}},
		{name: "mount of unknown volume", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "nope" },
			want: []want{isNotFound("spec.containers[0].volumeMounts[0].name")}},
		{name: "bad configMap mode", mutate: func(p *corev1.Pod) { p.Spec.Volumes[1].ConfigMap.DefaultMode = ptr.To[int32](01000) },
			want: []want{isInvalid("spec.volumes[1].configMap.defaultMode")}},
		{name: "bad restart policy", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			want: []want{isNotSupported("spec.restartPolicy")}},
		{name: "no dns policy", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = "" }, want: []want{isRequired("spec.dnsPolicy")}},
		{name: "bad env name", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "A=B" },
			want: []want{isInvalid("spec.containers[0].env[0].name")}},
		{name: "env source missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].ValueFrom = &corev1.EnvVarSource{} },
			want: []want{isInvalid("spec.containers[0].env[0].valueFrom")}},
		{name: "bad field path", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].ValueFrom.FieldRef.FieldPath = "metadata.labels" },
			want: []want{isNotSupported("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath")}},
		{name: "probe without handler", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe.HTTPGet = nil },
			want: []want{isRequired("spec.containers[0].livenessProbe")}},
		{name: "liveness success threshold", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe.SuccessThreshold = 2 },
			want: []want{isInvalid("spec.containers[0].livenessProbe.successThreshold")}},
		{name: "probe on init container", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers[0].ReadinessProbe = p.Spec.Containers[0].ReadinessProbe
		}, want: []want{isForbidden("spec.initContainers[0].readinessProbe")}},
		{name: "tolerationSeconds without NoExecute", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr.To[int64](1)})
		}, want: []want{isInvalid("spec.tolerations[2].effect")}},
		{name: "activeDeadlineSeconds zero", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](0) },
			want: []want{isInvalid("spec.activeDeadlineSeconds")}},
		{name: "ephemeral container on create", mutate: func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile}}}
		}, want: []want{isForbidden("spec.ephemeralContainers")}},
		{name: "host network port mismatch", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 8080
		}, want: []want{isInvalid("spec.containers[0].ports[0].hostPort")}},
		{name: "bad node selector", mutate: func(p *corev1.Pod) { p.Spec.NodeSelector["a"] = "b c" },
			want: []want{isInvalid("spec.nodeSelector")}},
		{name: "no grace period", mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil },
			want: []want{isRequired("spec.terminationGracePeriodSeconds")}},
		{name: "bad service account name", mutate: func(p *corev1.Pod) { p.Spec.ServiceAccountName = "A" },
			want: []want{isInvalid("spec.serviceAccountName")}},
		{name: "affinity without terms", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		}, want: []want{isRequired("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(p)
			errs := ValidatePod(p)
			expect(t, errs, tt.want...)
			if tt.msg != "" {
				expectMessage(t, errs, tt.msg)
			}
		})
	}
}

const podUpdateForbidden = "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`," +
	"`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)," +
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"

func TestValidatePodUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(*corev1.Pod)
		mutate func(*corev1.Pod)
		want   []want
		msg    string
	}{
		{name: "nothing changed", mutate: func(*corev1.Pod) {}},
		{name: "image and labels", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "nginx:1.27"
			p.Spec.InitContainers[0].Image = "busybox:1.37"
			p.Labels["tier"] = "web"
		}},
		{name: "toleration added", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists})
		}},
		{name: "toleration seconds changed", mutate: func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr.To[int64](10) }},
		{name: "toleration removed", mutate: func(p *corev1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[1:] },
			want: []want{isForbidden("spec.tolerations")}},
		{name: "ports changed", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 8080 },
			want: []want{isForbidden("spec")}, msg: podUpdateForbidden},
		{name: "node name set", mutate: func(p *corev1.Pod) { p.Spec.NodeName = "node-1" }, want: []want{isForbidden("spec")}},
		{name: "node name changed", old: func(p *corev1.Pod) { p.Spec.NodeName = "node-1" },
			mutate: func(p *corev1.Pod) { p.Spec.NodeName = "node-2" }, want: []want{isForbidden("spec")}},
		{name: "container added", mutate: func(p *corev1.Pod) {
			c := *p.Spec.Containers[0].DeepCopy()
			c.Name = "sidecar"
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, want: []want{isForbidden("spec.containers")}, msg: "pod updates may not add or remove containers"},
		{name: "deadline set", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) }},
		{name: "deadline raised", old: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) },
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](120) }, want: []want{isInvalid("spec.activeDeadlineSeconds")}},
		{name: "deadline removed", old: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) },
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil }, want: []want{isInvalid("spec.activeDeadlineSeconds")}},
		{name: "negative grace period to 1", old: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](-1) },
			mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1) }},
		{name: "grace period changed", mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](5) },
			want: []want{isForbidden("spec")}},
		{name: "scheduling gate removed", old: func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}} },
			mutate: func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }},
		{name: "scheduling gate added", mutate: func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}} },
			want: []want{isForbidden("spec.schedulingGates[0].name")}},
		{name: "gated pod gains node selector", old: func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}} },
			mutate: func(p *corev1.Pod) { p.Spec.NodeSelector["zone"] = "a" }},
		{name: "uid changed", mutate: func(p *corev1.Pod) { p.UID = "other" }, want: []want{isInvalid("metadata.uid")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validPod()
			old.ResourceVersion, old.UID = "1", "uid-1"
			if tt.old != nil {
				tt.old(old)
			}
			p := old.DeepCopy()
			tt.mutate(p)
			errs := ValidatePodUpdate(p, old)
			expect(t, errs, tt.want...)
			if tt.msg != "" {
				expectMessage(t, errs, tt.msg)
			}
		})
	}
}

func TestValidatePodStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(*corev1.Pod)
		mutate func(*corev1.Pod)
		want   []want
	}{
		{name: "running with IPs", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.PodIP = "10.244.0.5"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.5"}, {IP: "fd00::5"}}
			p.Status.HostIP = "172.18.0.2"
			p.Status.HostIPs = []corev1.HostIP{{IP: "172.18.0.2"}}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}},
		{name: "bad pod IP", mutate: func(p *corev1.Pod) { p.Status.PodIP = "10.244.0.500" }, want: []want{isInvalid("status.podIPs[0]")}},
		{name: "two IPv4 pod IPs", mutate: func(p *corev1.Pod) {
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.5"}, {IP: "10.244.0.6"}}
		}, want: []want{isInvalid("status.podIPs")}},
		{name: "host IP mismatch", mutate: func(p *corev1.Pod) {
			p.Status.HostIP = "172.18.0.2"
			p.Status.HostIPs = []corev1.HostIP{{IP: "172.18.0.3"}}
		}, want: []want{isInvalid("status.hostIPs[0].ip")}},
		{name: "node changed", mutate: func(p *corev1.Pod) { p.Spec.NodeName = "node-2" }, want: []want{isForbidden("status.nodeName")}},
		{name: "unknown phase", mutate: func(p *corev1.Pod) { p.Status.Phase = "Sleeping" }, want: []want{isNotSupported("status.phase")}},
		{name: "qos changed", old: func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSBurstable },
			mutate: func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSBestEffort }, want: []want{isInvalid("status.qosClass")}},
		{name: "bad condition type", mutate: func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: "not valid", Status: corev1.ConditionTrue}}
		}, want: []want{isInvalid("metadata.conditions[0].Type")}},
		{name: "terminated container restarted under Never", old: func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}
		}, mutate: func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		}, want: []want{isForbidden("status.containerStatuses[0].state")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validPod()
			old.ResourceVersion = "1"
			old.Spec.NodeName = "node-1"
			if tt.old != nil {
				tt.old(old)
			}
			p := old.DeepCopy()
			tt.mutate(p)
			expect(t, ValidatePodStatusUpdate(p, old), tt.want...)
		})
	}
}
