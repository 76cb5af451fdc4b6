package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServiceRow(t *testing.T) {
	lb := func(ingress ...corev1.LoadBalancerIngress) corev1.ServiceStatus {
		return corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: ingress}}
	}
	tests := []struct {
		name                         string
		spec                         corev1.ServiceSpec
		status                       corev1.ServiceStatus
		clusterIP, externalIP, ports string
		selector                     string
	}{
		{
			name: "cluster IP",
			spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
				Ports:    []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}, {Port: 53, Protocol: corev1.ProtocolTCP}, {Port: 9153, Protocol: corev1.ProtocolTCP}},
				Selector: map[string]string{"k8s-app": "kube-dns"},
			},
			clusterIP: "10.96.0.10", externalIP: "<none>", ports: "53/UDP,53/TCP,9153/TCP", selector: "k8s-app=kube-dns",
		},
		{
			name: "node port with external IPs",
			spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"10.96.1.1", "fd00::1"}, ExternalIPs: []string{"1.2.3.4", "5.6.7.8"},
				Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}},
			},
			clusterIP: "10.96.1.1", externalIP: "1.2.3.4,5.6.7.8", ports: "80:30080/TCP,53/UDP", selector: "<none>",
		},
		{
			name:      "headless without ports",
			spec:      corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", ClusterIPs: []string{"None"}},
			clusterIP: "None", externalIP: "<none>", ports: "<none>", selector: "<none>",
		},
		{
			name:      "cluster IP not yet copied to clusterIPs",
			spec:      corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Port: 443, Protocol: corev1.ProtocolTCP}}},
			clusterIP: "10.96.0.1", externalIP: "<none>", ports: "443/TCP", selector: "<none>",
		},
		{
			name: "load balancer pending",
			spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.2.2"},
				Ports: []corev1.ServicePort{{Port: 80, NodePort: 31000, Protocol: corev1.ProtocolTCP}}},
			clusterIP: "10.96.2.2", externalIP: "<pending>", ports: "80:31000/TCP", selector: "<none>",
		},
		{
			name:      "load balancer with ingress, sorted and not truncated",
			spec:      corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.2.2"}},
			status:    lb(corev1.LoadBalancerIngress{Hostname: "a-very-long-hostname.elb.example.com"}, corev1.LoadBalancerIngress{IP: "192.0.2.10"}, corev1.LoadBalancerIngress{IP: "192.0.2.10"}),
			clusterIP: "10.96.2.2", externalIP: "192.0.2.10,a-very-long-hostname.elb.example.com", ports: "<none>", selector: "<none>",
		},
		{
			name:      "load balancer ingress then external IPs",
			spec:      corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.2.2"}, ExternalIPs: []string{"1.1.1.1"}},
			status:    lb(corev1.LoadBalancerIngress{IP: "192.0.2.10"}),
			clusterIP: "10.96.2.2", externalIP: "192.0.2.10,1.1.1.1", ports: "<none>", selector: "<none>",
		},
		{
			name:      "external name",
			spec:      corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"},
			clusterIP: "<none>", externalIP: "db.example.com", ports: "<none>", selector: "<none>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", CreationTimestamp: ago(5 * time.Minute)}, Spec: tt.spec, Status: tt.status}
			assertRow(t, ServiceRow(svc), []interface{}{"s", string(tt.spec.Type), tt.clusterIP, tt.externalIP, tt.ports, "5m", tt.selector})
		})
	}
}

func TestEndpointsRow(t *testing.T) {
	addrs := func(ips ...string) []corev1.EndpointAddress {
		out := make([]corev1.EndpointAddress, len(ips))
		for i, ip := range ips {
			out[i] = corev1.EndpointAddress{IP: ip}
		}
		return out
	}
	port := func(p int32) []corev1.EndpointPort { return []corev1.EndpointPort{{Port: p}} }
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{name: "no subsets", want: "<none>"},
		{name: "two", subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2"), Ports: port(80)}}, want: "10.0.0.1:80,10.0.0.2:80"},
		{name: "exactly three", subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3"), Ports: port(80)}},
			want: "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80"},
		{
			name: "truncated across subsets and ports",
			subsets: []corev1.EndpointSubset{
				{Addresses: addrs("10.0.0.1", "10.0.0.2"), Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}},
				{Addresses: addrs("10.0.0.3"), Ports: port(8080)},
			},
			want: "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...",
		},
		{name: "headless without ports", subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")}},
			want: "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."},
		{name: "IPv6", subsets: []corev1.EndpointSubset{{Addresses: addrs("fd00::1"), Ports: port(53)}}, want: "[fd00::1]:53"},
		{name: "only not-ready addresses", subsets: []corev1.EndpointSubset{{NotReadyAddresses: addrs("10.0.0.9"), Ports: port(80)}}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "e", CreationTimestamp: ago(time.Hour)}, Subsets: tt.subsets}
			assertRow(t, EndpointsRow(ep), []interface{}{"e", tt.want, "60m"})
		})
	}
}

func TestEndpointSliceRow(t *testing.T) {
	tests := []struct {
		name      string
		ports     []discoveryv1.EndpointPort
		endpoints []discoveryv1.Endpoint
		portsCell string
		addresses string
	}{
		{name: "empty", portsCell: "<unset>", addresses: "<unset>"},
		{
			name:      "ports by number, name or any",
			ports:     []discoveryv1.EndpointPort{{Port: ptr(int32(80))}, {Name: ptr("metrics")}, {}},
			endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}, {Addresses: []string{"10.0.0.2"}}},
			portsCell: "80,metrics,*", addresses: "10.0.0.1,10.0.0.2",
		},
		{
			name:      "truncated",
			ports:     []discoveryv1.EndpointPort{{Port: ptr(int32(1))}, {Port: ptr(int32(2))}, {Port: ptr(int32(3))}, {Port: ptr(int32(4))}, {Port: ptr(int32(5))}},
			endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1", "10.0.0.2"}}, {Addresses: []string{"10.0.0.3", "10.0.0.4"}}},
			portsCell: "1,2,3 + 2 more...", addresses: "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: "es", CreationTimestamp: ago(time.Minute)},
				AddressType: discoveryv1.AddressTypeIPv4, Ports: tt.ports, Endpoints: tt.endpoints,
			}
			assertRow(t, EndpointSliceRow(es), []interface{}{"es", "IPv4", tt.portsCell, tt.addresses, "60s"})
		})
	}
}
