package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func svc(mutate func(*corev1.Service)) func() *corev1.Service {
	return func() *corev1.Service {
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "web"},
				Ports:    []corev1.ServicePort{{Port: 80}},
			},
		}
		if mutate != nil {
			mutate(s)
		}
		return s
	}
}

func TestService(t *testing.T) {
	tests := []struct {
		name  string
		svc   func() *corev1.Service
		check func(t *testing.T, s *corev1.ServiceSpec)
	}{
		{"cluster IP", svc(nil), func(t *testing.T, s *corev1.ServiceSpec) {
			if s.Type != corev1.ServiceTypeClusterIP || s.SessionAffinity != corev1.ServiceAffinityNone ||
				*s.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster || s.ExternalTrafficPolicy != "" {
				t.Errorf("spec = %+v", s)
			}
			if s.Ports[0].Protocol != corev1.ProtocolTCP || s.Ports[0].TargetPort != intstr.FromInt32(80) {
				t.Errorf("port = %+v", s.Ports[0])
			}
			if *s.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack || !apiequality.Semantic.DeepEqual(s.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol}) {
				t.Errorf("families = %v %v", *s.IPFamilyPolicy, s.IPFamilies)
			}
		}},
		{"named target port kept", svc(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("http") }), func(t *testing.T, s *corev1.ServiceSpec) {
			if s.Ports[0].TargetPort != intstr.FromString("http") {
				t.Errorf("targetPort = %v", s.Ports[0].TargetPort)
			}
		}},
		{"node port", svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }), func(t *testing.T, s *corev1.ServiceSpec) {
			if s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
				t.Errorf("externalTrafficPolicy = %q", s.ExternalTrafficPolicy)
			}
		}},
		{"load balancer", svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer }), func(t *testing.T, s *corev1.ServiceSpec) {
			if s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster || !*s.AllocateLoadBalancerNodePorts {
				t.Errorf("spec = %+v", s)
			}
		}},
		{"client IP affinity", svc(func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP }), func(t *testing.T, s *corev1.ServiceSpec) {
			if *s.SessionAffinityConfig.ClientIP.TimeoutSeconds != 10800 {
				t.Errorf("timeout = %d", *s.SessionAffinityConfig.ClientIP.TimeoutSeconds)
			}
		}},
		{"external name", svc(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "example.com"
		}), func(t *testing.T, s *corev1.ServiceSpec) {
			if s.IPFamilyPolicy != nil || s.IPFamilies != nil || s.InternalTrafficPolicy != nil {
				t.Errorf("spec = %+v", s)
			}
		}},
		{"clusterIP mirrored and IPv6 family", svc(func(s *corev1.Service) { s.Spec.ClusterIP = "fd00::10" }), func(t *testing.T, s *corev1.ServiceSpec) {
			if len(s.ClusterIPs) != 1 || s.ClusterIPs[0] != "fd00::10" || s.IPFamilies[0] != corev1.IPv6Protocol {
				t.Errorf("clusterIPs = %v families = %v", s.ClusterIPs, s.IPFamilies)
			}
		}},
		{"headless without selector", svc(func(s *corev1.Service) {
			s.Spec.ClusterIP = corev1.ClusterIPNone
			s.Spec.Selector = nil
		}), func(t *testing.T, s *corev1.ServiceSpec) {
			if *s.IPFamilyPolicy != corev1.IPFamilyPolicyRequireDualStack || len(s.IPFamilies) != 2 {
				t.Errorf("families = %v %v", *s.IPFamilyPolicy, s.IPFamilies)
			}
		}},
		{"headless with selector", svc(func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }), func(t *testing.T, s *corev1.ServiceSpec) {
			if *s.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack || len(s.IPFamilies) != 1 {
				t.Errorf("families = %v %v", *s.IPFamilyPolicy, s.IPFamilies)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.svc()
			Service(s)
			tt.check(t, &s.Spec)
			again := s.DeepCopy()
			Service(again)
			if !apiequality.Semantic.DeepEqual(s, again) {
				t.Errorf("not idempotent")
			}
		})
	}
}

func TestPrepareServiceUpdate(t *testing.T) {
	old := svc(func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.ClusterIP = "10.96.0.20"
		s.Spec.ClusterIPs = []string{"10.96.0.20"}
		s.Spec.Ports[0].NodePort = 30080
		s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyPreferDualStack)
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	})()
	tests := []struct {
		name  string
		svc   func() *corev1.Service
		check func(t *testing.T, s *corev1.ServiceSpec)
	}{
		{"allocated values carried over", svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }), func(t *testing.T, s *corev1.ServiceSpec) {
			if s.ClusterIP != "10.96.0.20" || len(s.ClusterIPs) != 1 || s.Ports[0].NodePort != 30080 ||
				*s.IPFamilyPolicy != corev1.IPFamilyPolicyPreferDualStack {
				t.Errorf("spec = %+v", s)
			}
		}},
		{"changed singular clusterIP reaches the plural", svc(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ClusterIP = "10.96.0.21"
			s.Spec.ClusterIPs = []string{"10.96.0.20"}
		}), func(t *testing.T, s *corev1.ServiceSpec) {
			if s.ClusterIPs[0] != "10.96.0.21" {
				t.Errorf("clusterIPs = %v", s.ClusterIPs)
			}
		}},
		{"to ExternalName drops nothing", svc(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "example.com"
		}), func(t *testing.T, s *corev1.ServiceSpec) {
			if s.ClusterIP != "" || s.Ports[0].NodePort != 0 {
				t.Errorf("spec = %+v", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.svc()
			PrepareServiceUpdate(s, old)
			tt.check(t, &s.Spec)
		})
	}
}
