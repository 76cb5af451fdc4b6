package validation

import (
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubelab/kubelab/components/apiserver/defaults"
)

func TestValidateNode(t *testing.T) {
	valid := func() *corev1.Node {
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "kind-worker", ResourceVersion: "1"},
			Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", ProviderID: "kind://docker/kind/kind-worker",
				Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}},
			Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")}},
		}
		defaults.Node(n)
		return n
	}
	tests := []struct {
		name   string
		mutate func(*corev1.Node)
		want   []want
	}{
		{name: "valid", mutate: func(*corev1.Node) {}},
		{name: "dual stack", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/24", "fd00:10:244:1::/64"} }},
		{name: "bad name", mutate: func(n *corev1.Node) { n.Name = "Kind_Worker" }, want: []want{isInvalid("metadata.name")}},
		{name: "bad pod CIDR", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/33"} }, want: []want{isInvalid("spec.podCIDRs[0]")}},
		{name: "two IPv4 CIDRs", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/24", "10.244.2.0/24"} },
			want: []want{isInvalid("spec.podCIDRs")}},
		{name: "bad taint effect", mutate: func(n *corev1.Node) { n.Spec.Taints[0].Effect = "NoRun" }, want: []want{isNotSupported("metadata.taints[0].effect")}},
		{name: "duplicate taint", mutate: func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, n.Spec.Taints[0]) },
			want: []want{isDuplicate("metadata.taints[1]")}},
		{name: "same key other effect", mutate: func(n *corev1.Node) {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: n.Spec.Taints[0].Key, Effect: corev1.TaintEffectNoExecute})
		}},
		{name: "fractional pods", mutate: func(n *corev1.Node) { n.Status.Capacity[corev1.ResourcePods] = resource.MustParse("1.5") },
			want: []want{isInvalid("status.capacity.pods")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := valid()
			tt.mutate(n)
			expect(t, ValidateNode(n), tt.want...)
		})
	}
	updates := []struct {
		name   string
		old    func(*corev1.Node)
		mutate func(*corev1.Node)
		want   []want
	}{
		{name: "taints and unschedulable change", mutate: func(n *corev1.Node) { n.Spec.Unschedulable = true; n.Spec.Taints = nil }},
		{name: "pod CIDR set once", old: func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "", nil },
			mutate: func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.3.0/24", []string{"10.244.3.0/24"} }},
		{name: "pod CIDR changed", mutate: func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.3.0/24", []string{"10.244.3.0/24"} },
			want: []want{isForbidden("spec.podCIDRs")}},
		{name: "provider ID changed", mutate: func(n *corev1.Node) { n.Spec.ProviderID = "other" }, want: []want{isForbidden("spec.providerID")}},
		{name: "duplicate address", mutate: func(n *corev1.Node) {
			a := corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "172.18.0.2"}
			n.Status.Addresses = []corev1.NodeAddress{a, a}
		}, want: []want{isDuplicate("status.addresses[1]")}},
	}
	for _, tt := range updates {
		t.Run("update "+tt.name, func(t *testing.T) {
			old := valid()
			if tt.old != nil {
				tt.old(old)
			}
			n := old.DeepCopy()
			tt.mutate(n)
			expect(t, ValidateNodeUpdate(n, old), tt.want...)
		})
	}
}

func TestValidateEndpoints(t *testing.T) {
	valid := func() *corev1.Endpoints {
		e := &corev1.Endpoints{ObjectMeta: meta("web"), Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "10.244.1.5", NodeName: ptr.To("kind-worker")}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.244.1.6"}},
			Ports:             []corev1.EndpointPort{{Name: "http", Port: 80}, {Name: "https", Port: 443}},
		}}}
		defaults.Endpoints(e)
		return e
	}
	tests := []struct {
		name   string
		mutate func(*corev1.Endpoints)
		want   []want
	}{
		{name: "valid", mutate: func(*corev1.Endpoints) {}},
		{name: "no addresses", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses, e.Subsets[0].NotReadyAddresses = nil, nil },
			want: []want{isRequired("subsets[0]")}},
		{name: "bad IP", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "10.244.1" },
			want: []want{isInvalid("subsets[0].addresses[0].ip"), isInvalid("subsets[0].addresses[0].ip")}},
		{name: "loopback IP", mutate: func(e *corev1.Endpoints) { e.Subsets[0].NotReadyAddresses[0].IP = "127.0.0.1" },
			want: []want{isInvalid("subsets[0].notReadyAddresses[0].ip")}},
		{name: "port name required", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Ports[1].Name = "" },
			want: []want{isRequired("subsets[0].ports[1].name")}},
		{name: "bad port", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Port = 0 }, want: []want{isInvalid("subsets[0].ports[0].port")}},
		{name: "bad protocol", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Protocol = "ICMP" },
			want: []want{isNotSupported("subsets[0].ports[0].protocol")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			tt.mutate(e)
			expect(t, ValidateEndpoints(e), tt.want...)
			expect(t, ValidateEndpointsUpdate(e, valid()), tt.want...)
		})
	}
}

func TestValidateEndpointSlice(t *testing.T) {
	valid := func() *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  meta("web-abcde"),
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, NodeName: ptr.To("kind-worker"),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](80), Protocol: ptr.To(corev1.ProtocolTCP)}, {Port: ptr.To[int32](81)}},
		}
	}
	tests := []struct {
		name   string
		mutate func(*discoveryv1.EndpointSlice)
		want   []want
	}{
		{name: "valid", mutate: func(*discoveryv1.EndpointSlice) {}},
		{name: "no address type", mutate: func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }, want: []want{isRequired("addressType")}},
		{name: "bad address type", mutate: func(s *discoveryv1.EndpointSlice) { s.AddressType = "IP" }, want: []want{isNotSupported("addressType")}},
		{name: "no addresses", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil },
			want: []want{isRequired("endpoints[0].addresses")}},
		{name: "too many addresses", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = make([]string, 101) },
			want: append([]want{isTooMany("endpoints[0].addresses")}, repeat(isInvalid, "endpoints[0].addresses[%d]", 101)...)},
		{name: "IPv6 address in IPv4 slice", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses[0] = "fd00::5" },
			want: []want{isInvalid("endpoints[0].addresses[0]")}},
		{name: "FQDN", mutate: func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints[0].Addresses[0] = "db.example.com"
		}},
		{name: "duplicate port name", mutate: func(s *discoveryv1.EndpointSlice) { s.Ports[1].Name = ptr.To("http") },
			want: []want{isDuplicate("ports[1].name")}},
		{name: "bad protocol", mutate: func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = ptr.To[corev1.Protocol]("ICMP") },
			want: []want{isNotSupported("ports[0].protocol")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid()
			tt.mutate(s)
			expect(t, ValidateEndpointSlice(s), tt.want...)
		})
	}
	t.Run("address type immutable", func(t *testing.T) {
		old := valid()
		s := old.DeepCopy()
		s.AddressType = discoveryv1.AddressTypeFQDN
		s.Endpoints[0].Addresses[0] = "db.example.com"
		expect(t, ValidateEndpointSliceUpdate(s, old), isInvalid("addressType"))
	})
}

// repeat builds n expectations for an indexed path format.
func repeat(fn func(string) want, format string, n int) []want {
	out := make([]want, n)
	for i := range out {
		out[i] = fn(fmt.Sprintf(format, i))
	}
	return out
}

func TestValidateLease(t *testing.T) {
	tests := []struct {
		name string
		spec coordinationv1.LeaseSpec
		want []want
	}{
		{name: "valid", spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("kind-worker"), LeaseDurationSeconds: ptr.To[int32](40),
			RenewTime: &metav1.MicroTime{Time: time.Now()}}},
		{name: "zero duration", spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To[int32](0)}, want: []want{isInvalid("spec.leaseDurationSeconds")}},
		{name: "negative transitions", spec: coordinationv1.LeaseSpec{LeaseTransitions: ptr.To[int32](-1)}, want: []want{isInvalid("spec.leaseTransitions")}},
		{name: "unknown strategy", spec: coordinationv1.LeaseSpec{Strategy: ptr.To[coordinationv1.CoordinatedLeaseStrategy]("Newest")},
			want: []want{isNotSupported("spec.strategy.strategy")}},
		{name: "preferred holder without strategy", spec: coordinationv1.LeaseSpec{PreferredHolder: ptr.To("a")},
			want: []want{isForbidden("spec.preferredHolder")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &coordinationv1.Lease{ObjectMeta: meta("kind-worker"), Spec: tt.spec}
			expect(t, ValidateLease(l), tt.want...)
			expect(t, ValidateLeaseUpdate(l, l.DeepCopy()), tt.want...)
		})
	}
}

func TestValidateEvent(t *testing.T) {
	event := func(mutate func(*corev1.Event)) *corev1.Event {
		e := &corev1.Event{
			ObjectMeta:     meta("web.17f3a"),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
			Reason:         "Scheduled", Message: "Successfully assigned default/web to kind-worker", Type: corev1.EventTypeNormal,
		}
		if mutate != nil {
			mutate(e)
		}
		return e
	}
	tests := []struct {
		name  string
		event *corev1.Event
		want  []want
	}{
		{name: "valid", event: event(nil)},
		{name: "node event in default", event: event(func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "kind-worker"} })},
		{name: "namespace mismatch", event: event(func(e *corev1.Event) { e.InvolvedObject.Namespace = "kube-system" }),
			want: []want{isInvalid("involvedObject.namespace")}},
		{name: "new-style event without reporting fields", event: event(func(e *corev1.Event) {
			e.EventTime = metav1.MicroTime{Time: time.Now()}
		}), want: []want{isRequired("reportingController"), isInvalid("reportingController"), isInvalid("reportingController"),
			isRequired("reportingInstance"), isRequired("action")}},
		{name: "name with slash", event: event(func(e *corev1.Event) { e.Name = "a/b" }), want: []want{isInvalid("metadata.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, ValidateEvent(tt.event), tt.want...)
			expect(t, ValidateEventUpdate(tt.event, tt.event.DeepCopy()), tt.want...)
		})
	}
}
