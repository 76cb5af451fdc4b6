package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kubelab/kubelab/components/apiserver/defaults"
)

// validService is a defaulted ClusterIP service with an allocated IP.
func validService(mutate func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": "web"},
			ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
				{Name: "https", Port: 443},
			},
		},
	}
	if mutate != nil {
		mutate(s)
	}
	defaults.Service(s)
	return s
}

func TestValidateService(t *testing.T) {
	tests := []struct {
		name   string
		pre    func(*corev1.Service) // before defaulting
		mutate func(*corev1.Service) // after defaulting
		want   []want
		msg    string
	}{
		{name: "valid"},
		{name: "node port", pre: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 30080 }},
		{name: "load balancer", pre: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer }},
		{name: "headless without ports", pre: func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone; s.Spec.Ports = nil }},
		{name: "external name", pre: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com."}
		}},
		{name: "name must start with a letter", mutate: func(s *corev1.Service) { s.Name = "1web" },
			want: []want{isInvalid("metadata.name")}, msg: "a DNS-1035 label must consist of lower case alphanumeric characters"},
		{name: "no ports", mutate: func(s *corev1.Service) { s.Spec.Ports = nil }, want: []want{isRequired("spec.ports")}},
		{name: "port name required with several ports", mutate: func(s *corev1.Service) { s.Spec.Ports[1].Name = "" },
			want: []want{isRequired("spec.ports[1].name")}},
		{name: "duplicate port name", mutate: func(s *corev1.Service) { s.Spec.Ports[1].Name = "http" },
			want: []want{isDuplicate("spec.ports[1].name")}},
		{name: "port out of range", mutate: func(s *corev1.Service) { s.Spec.Ports[1].Port = 0 },
			want: []want{isInvalid("spec.ports[1].port")}},
		{name: "duplicate port", mutate: func(s *corev1.Service) { s.Spec.Ports[1].Port = 80 },
			want: []want{isDuplicate("spec.ports[1]")}},
		{name: "bad protocol", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" },
			want: []want{isNotSupported("spec.ports[0].protocol")}},
		{name: "bad target port name", mutate: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("not_a_name") },
			want: []want{isInvalid("spec.ports[0].targetPort")}},
		{name: "bad target port number", mutate: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(70000) },
			want: []want{isInvalid("spec.ports[0].targetPort")}},
		{name: "bad type", mutate: func(s *corev1.Service) { s.Spec.Type = "Internal" }, want: []want{isNotSupported("spec.type")}},
		{name: "node port on ClusterIP", mutate: func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 },
			want: []want{isForbidden("spec.ports[0].nodePort")}},
		{name: "node port out of range", pre: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 80 },
			want: []want{isInvalid("spec.ports[0].nodePort")}, msg: "The range of valid ports is 30000-32767"},
		{name: "bad cluster IP", pre: func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.300" },
			want: []want{isInvalid("spec.clusterIPs[0]")}},
		{name: "clusterIPs out of sync", mutate: func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.11"} },
			want: []want{isInvalid("spec.clusterIPs")}},
		{name: "headless node port", pre: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ClusterIP = corev1.ClusterIPNone
		},
			want: []want{isInvalid("spec.clusterIPs[0]")}},
		{name: "bad selector", mutate: func(s *corev1.Service) { s.Spec.Selector["app"] = "a b" }, want: []want{isInvalid("spec.selector")}},
		{name: "bad session affinity", mutate: func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" },
			want: []want{isNotSupported("spec.sessionAffinity")}},
		{name: "external traffic policy on ClusterIP", mutate: func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal },
			want: []want{isInvalid("spec.externalTrafficPolicy")}},
		{name: "external name missing", pre: func(s *corev1.Service) { s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName} },
			want: []want{isRequired("spec.externalName")}},
		{name: "external name with cluster IP", pre: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", ClusterIP: "10.96.0.10"}
		}, want: []want{isForbidden("spec.clusterIPs")}},
		{name: "bad ip family", mutate: func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{"IPv5"} },
			want: []want{isNotSupported("spec.ipFamilies[0]")}},
		{name: "family does not match IP", mutate: func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} },
			want: []want{isInvalid("spec.clusterIPs[0]")}},
		{name: "loopback external IP", mutate: func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"127.0.0.1"} },
			want: []want{isInvalid("spec.externalIPs[0]"), isRequired("spec.externalTrafficPolicy")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validService(tt.pre)
			if tt.mutate != nil {
				tt.mutate(s)
			}
			errs := ValidateService(s)
			expect(t, errs, tt.want...)
			if tt.msg != "" {
				expectMessage(t, errs, tt.msg)
			}
		})
	}
}

func TestValidateServiceUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(s *corev1.Service)
		mutate func(s *corev1.Service)
		prep   bool
		want   []want
		msg    string
	}{
		{name: "selector and ports change", mutate: func(s *corev1.Service) {
			s.Spec.Selector = map[string]string{"app": "web2"}
			s.Spec.Ports[0].Port = 8080
		}},
		{name: "cluster IP changed", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.11"
			s.Spec.ClusterIPs = []string{"10.96.0.11"}
		}, want: []want{isInvalid("spec.clusterIPs[0]")}, msg: "may not change once set"},
		{name: "cluster IP cleared", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP = ""
			s.Spec.ClusterIPs = nil
		}, want: []want{isInvalid("spec.clusterIPs[0]")}, msg: "primary clusterIP can not be unset"},
		{name: "cluster IP omitted is kept by PrepareServiceUpdate", prep: true, mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP = ""
			s.Spec.ClusterIPs = nil
			s.Spec.IPFamilies = nil
			s.Spec.IPFamilyPolicy = nil
		}},
		{name: "to NodePort", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}},
		{name: "load balancer class changed", old: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.LoadBalancerClass = ptr.To("example.com/lb")
		}, mutate: func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To("example.com/other") },
			want: []want{isInvalid("spec.loadBalancerClass")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validService(tt.old)
			s := old.DeepCopy()
			tt.mutate(s)
			if tt.prep {
				defaults.PrepareServiceUpdate(s, old)
				defaults.Service(s)
			}
			errs := ValidateServiceUpdate(s, old)
			expect(t, errs, tt.want...)
			if tt.msg != "" {
				expectMessage(t, errs, tt.msg)
			}
		})
	}
}
