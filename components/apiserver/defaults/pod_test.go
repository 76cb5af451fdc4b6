package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"registry.k8s.io/pause:3.10", corev1.PullIfNotPresent},
		{"localhost:5000/app", corev1.PullAlways},
		{"localhost:5000/app:v1", corev1.PullIfNotPresent},
		{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
		{"nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullAlways},
		{"Nginx", corev1.PullIfNotPresent},
		{"", corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			if got := pullPolicy(tt.image); got != tt.want {
				t.Errorf("pullPolicy(%q) = %s, want %s", tt.image, got, tt.want)
			}
		})
	}
}

// bare is the pod `kubectl run web --image=nginx` sends.
func bare() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
	}
}

func TestPod(t *testing.T) {
	tests := []struct {
		name  string
		pod   func() *corev1.Pod
		check func(t *testing.T, p *corev1.Pod)
	}{
		{"spec defaults", bare, func(t *testing.T, p *corev1.Pod) {
			s := p.Spec
			if s.RestartPolicy != corev1.RestartPolicyAlways || s.DNSPolicy != corev1.DNSClusterFirst ||
				*s.TerminationGracePeriodSeconds != 30 || s.SchedulerName != "default-scheduler" ||
				s.SecurityContext == nil || !*s.EnableServiceLinks {
				t.Errorf("spec defaults wrong: %+v", s)
			}
			if s.ServiceAccountName != "default" || s.DeprecatedServiceAccount != "default" {
				t.Errorf("service account = %q/%q", s.ServiceAccountName, s.DeprecatedServiceAccount)
			}
			if *s.Priority != 0 || *s.PreemptionPolicy != corev1.PreemptLowerPriority {
				t.Errorf("priority = %d %s", *s.Priority, *s.PreemptionPolicy)
			}
		}},
		{"container defaults", bare, func(t *testing.T, p *corev1.Pod) {
			c := p.Spec.Containers[0]
			if c.ImagePullPolicy != corev1.PullAlways || c.TerminationMessagePath != "/dev/termination-log" ||
				c.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
				t.Errorf("container defaults wrong: %+v", c)
			}
		}},
		{"default tolerations", bare, func(t *testing.T, p *corev1.Pod) {
			want := []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			}
			if !apiequality.Semantic.DeepEqual(p.Spec.Tolerations, want) {
				t.Errorf("tolerations = %+v", p.Spec.Tolerations)
			}
		}},
		{"tolerate everything adds nothing", func() *corev1.Pod {
			p := bare()
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
			return p
		}, func(t *testing.T, p *corev1.Pod) {
			if len(p.Spec.Tolerations) != 1 {
				t.Errorf("tolerations = %+v", p.Spec.Tolerations)
			}
		}},
		{"own not-ready toleration kept", func() *corev1.Pod {
			p := bare()
			p.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](5)}}
			return p
		}, func(t *testing.T, p *corev1.Pod) {
			if len(p.Spec.Tolerations) != 2 || *p.Spec.Tolerations[0].TolerationSeconds != 5 || p.Spec.Tolerations[1].Key != "node.kubernetes.io/unreachable" {
				t.Errorf("tolerations = %+v", p.Spec.Tolerations)
			}
		}},
		{"deprecated serviceAccount alias", func() *corev1.Pod {
			p := bare()
			p.Spec.DeprecatedServiceAccount = "builder"
			return p
		}, func(t *testing.T, p *corev1.Pod) {
			if p.Spec.ServiceAccountName != "builder" || p.Spec.DeprecatedServiceAccount != "builder" {
				t.Errorf("service account = %q/%q", p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount)
			}
		}},
		{"system-node-critical priority", func() *corev1.Pod {
			p := bare()
			p.Spec.PriorityClassName = "system-node-critical"
			return p
		}, func(t *testing.T, p *corev1.Pod) {
			if *p.Spec.Priority != 2000001000 {
				t.Errorf("priority = %d", *p.Spec.Priority)
			}
		}},
		{"requests default to limits", func() *corev1.Pod {
			p := bare()
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
			return p
		}, func(t *testing.T, p *corev1.Pod) {
			req := p.Spec.Containers[0].Resources.Requests
			if req.Cpu().String() != "500m" || req.Memory().String() != "64Mi" {
				t.Errorf("requests = %v", req)
			}
		}},
		{"quantities rounded to milli", func() *corev1.Pod {
			p := bare()
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.0001")}
			return p
		}, func(t *testing.T, p *corev1.Pod) {
			if got := p.Spec.Containers[0].Resources.Requests.Cpu().String(); got != "1m" {
				t.Errorf("cpu = %s", got)
			}
		}},
		{"ports, env and probes", func() *corev1.Pod {
			p := bare()
			c := &p.Spec.Containers[0]
			c.Ports = []corev1.ContainerPort{{ContainerPort: 80}}
			c.Env = []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}}
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}}
			return p
		}, func(t *testing.T, p *corev1.Pod) {
			c := p.Spec.Containers[0]
			if c.Ports[0].Protocol != corev1.ProtocolTCP || c.Env[0].ValueFrom.FieldRef.APIVersion != "v1" {
				t.Errorf("port/env defaults wrong: %+v %+v", c.Ports, c.Env)
			}
			lp := c.LivenessProbe
			if lp.TimeoutSeconds != 1 || lp.PeriodSeconds != 10 || lp.SuccessThreshold != 1 || lp.FailureThreshold != 3 ||
				lp.HTTPGet.Scheme != corev1.URISchemeHTTP || lp.HTTPGet.Path != "/" {
				t.Errorf("probe defaults wrong: %+v", lp)
			}
			if c.ReadinessProbe.GRPC.Service == nil || *c.ReadinessProbe.GRPC.Service != "" {
				t.Errorf("grpc service not defaulted")
			}
		}},
		{"volumes", func() *corev1.Pod {
			p := bare()
			p.Spec.Volumes = []corev1.Volume{
				{Name: "scratch"},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
				{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}},
			}
			return p
		}, func(t *testing.T, p *corev1.Pod) {
			v := p.Spec.Volumes
			if v[0].EmptyDir == nil || v[0].EmptyDir.Medium != "" {
				t.Errorf("emptyDir not defaulted: %+v", v[0])
			}
			if *v[1].ConfigMap.DefaultMode != 0644 || *v[2].Secret.DefaultMode != 0644 || *v[3].HostPath.Type != "" {
				t.Errorf("volume defaults wrong")
			}
			if *v[4].Projected.DefaultMode != 0644 || *v[4].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds != 3600 {
				t.Errorf("projected defaults wrong")
			}
		}},
		{"host network ports", func() *corev1.Pod {
			p := bare()
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
			return p
		}, func(t *testing.T, p *corev1.Pod) {
			if p.Spec.Containers[0].Ports[0].HostPort != 8080 {
				t.Errorf("hostPort = %d", p.Spec.Containers[0].Ports[0].HostPort)
			}
		}},
		{"mirror pod keeps no service account", func() *corev1.Pod {
			p := bare()
			p.Annotations = map[string]string{"kubernetes.io/config.mirror": "abc"}
			return p
		}, func(t *testing.T, p *corev1.Pod) {
			if p.Spec.ServiceAccountName != "" {
				t.Errorf("service account = %q", p.Spec.ServiceAccountName)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.pod()
			Pod(p)
			tt.check(t, p)
			again := p.DeepCopy()
			Pod(again)
			if !apiequality.Semantic.DeepEqual(p, again) {
				t.Errorf("not idempotent:\n%+v\n%+v", p, again)
			}
		})
	}
}

func TestPodTemplateSpecLeavesPodOnlyFields(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}}
	PodTemplateSpec(tmpl)
	s := tmpl.Spec
	if s.EnableServiceLinks != nil || s.ServiceAccountName != "" || s.Priority != nil || len(s.Tolerations) != 0 || s.Containers[0].Resources.Requests != nil {
		t.Errorf("template got pod-only defaults: %+v", s)
	}
	if s.RestartPolicy != corev1.RestartPolicyAlways || s.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("template spec defaults missing: %+v", s)
	}
}
