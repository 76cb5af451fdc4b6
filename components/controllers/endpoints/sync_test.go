package endpoints

import (
	"context"
	"github.com/kubelab/kubelab/components/controllers/controllertest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func newTestController(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset, informers.SharedInformerFactory) {
	t.Helper()
	ctrl, client, factory := controllertest.New(t, New, objs...)
	return ctrl.(*Controller), client, factory
}

func service(name string, mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("svc-" + name), Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": "web"},
			ClusterIP: "10.96.0.10",
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("web")}},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func pod(name, ip string, ready bool, webPort int32, mutate ...func(*corev1.Pod)) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: webPort, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func addrIPs(as []corev1.EndpointAddress) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.IP)
	}
	return out
}

func TestSync(t *testing.T) {
	terminating := func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		// want is, per subset: port, ready IPs, not-ready IPs.
		want []wantSubset
	}{
		{
			name: "ready and not ready",
			svc:  service("s"),
			pods: []*corev1.Pod{pod("a", "10.0.0.1", true, 8080), pod("b", "10.0.0.2", false, 8080)},
			want: []wantSubset{{port: 8080, ready: []string{"10.0.0.1"}, notReady: []string{"10.0.0.2"}}},
		},
		{
			name: "named port resolved per pod",
			svc:  service("s"),
			pods: []*corev1.Pod{pod("a", "10.0.0.1", true, 8080), pod("b", "10.0.0.2", true, 9090)},
			want: []wantSubset{{port: 8080, ready: []string{"10.0.0.1"}}, {port: 9090, ready: []string{"10.0.0.2"}}},
		},
		{
			name: "terminating, finished, ip-less and unlabelled pods left out",
			svc:  service("s"),
			pods: []*corev1.Pod{
				pod("a", "10.0.0.1", true, 8080),
				pod("gone", "10.0.0.2", true, 8080, terminating),
				pod("done", "10.0.0.3", false, 8080, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
				pod("noip", "", false, 8080),
				pod("other", "10.0.0.5", true, 8080, func(p *corev1.Pod) { p.Labels = map[string]string{"app": "db"} }),
			},
			want: []wantSubset{{port: 8080, ready: []string{"10.0.0.1"}}},
		},
		{
			name: "publishNotReadyAddresses keeps unready and terminating pods ready",
			svc:  service("s", func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			pods: []*corev1.Pod{pod("a", "10.0.0.1", false, 8080), pod("b", "10.0.0.2", true, 8080, terminating)},
			want: []wantSubset{{port: 8080, ready: []string{"10.0.0.1", "10.0.0.2"}}},
		},
		{
			name: "pod without the named port is left out of that port",
			svc:  service("s"),
			pods: []*corev1.Pod{pod("a", "10.0.0.1", true, 8080), pod("b", "10.0.0.2", true, 8080, func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil })},
			want: []wantSubset{{port: 8080, ready: []string{"10.0.0.1"}}},
		},
		{
			name: "numeric target port",
			svc:  service("s", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(7000) }),
			pods: []*corev1.Pod{pod("a", "10.0.0.1", true, 8080)},
			want: []wantSubset{{port: 7000, ready: []string{"10.0.0.1"}}},
		},
		{
			name: "headless without ports lists addresses",
			svc:  service("s", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone; s.Spec.Ports = nil }),
			pods: []*corev1.Pod{pod("a", "10.0.0.1", true, 8080)},
			want: []wantSubset{{port: 0, ready: []string{"10.0.0.1"}}},
		},
		{
			name: "no pods gives empty endpoints",
			svc:  service("s"),
			want: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.svc}
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			ec, client, _ := newTestController(t, objs...)
			ec.triggers.Record("ns/s", tc.svc.CreationTimestamp.Time)
			if err := ec.sync(context.Background(), "ns/s"); err != nil {
				t.Fatal(err)
			}
			ep, err := client.CoreV1().Endpoints("ns").Get(context.Background(), "s", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkSubsets(t, ep.Subsets, tc.want)
			if ep.Labels["team"] != "a" {
				t.Errorf("labels %v: want the service's", ep.Labels)
			}
			if _, headless := ep.Labels["service.kubernetes.io/headless"]; headless != (tc.svc.Spec.ClusterIP == corev1.ClusterIPNone) {
				t.Errorf("headless label: %v", ep.Labels)
			}
		})
	}
}

type wantSubset struct {
	port            int32
	ready, notReady []string
}

func checkSubsets(t *testing.T, got []corev1.EndpointSubset, want []wantSubset) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d subsets %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		s := got[i]
		port := int32(0)
		if len(s.Ports) > 0 {
			port = s.Ports[0].Port
		}
		if port != w.port || !equalSlices(addrIPs(s.Addresses), w.ready) || !equalSlices(addrIPs(s.NotReadyAddresses), w.notReady) {
			t.Errorf("subset %d = port %d ready %v notReady %v; want %+v", i, port, addrIPs(s.Addresses), addrIPs(s.NotReadyAddresses), w)
		}
		for _, a := range append(s.Addresses, s.NotReadyAddresses...) {
			if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.NodeName == nil || *a.NodeName != "node-1" {
				t.Errorf("address %+v: want pod targetRef and nodeName", a)
			}
		}
	}
}

func equalSlices(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSyncLeavesSelectorlessServicesAlone(t *testing.T) {
	svc := service("manual", func(s *corev1.Service) { s.Spec.Selector = nil })
	user := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "manual", Namespace: "ns"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.168.1.1"}}}}}
	ec, client, _ := newTestController(t, svc, user, pod("a", "10.0.0.1", true, 8080))
	client.ClearActions()
	if err := ec.sync(context.Background(), "ns/manual"); err != nil {
		t.Fatal(err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Fatalf("%d actions on a selector-less service: %v", n, client.Actions())
	}
}

func TestSyncWritesOnlyChanges(t *testing.T) {
	svc := service("s")
	p := pod("a", "10.0.0.1", true, 8080)
	ec, client, factory := newTestController(t, svc, p)
	ctx := context.Background()
	ec.triggers.Record("ns/s", metav1.Now().Time)
	if err := ec.sync(ctx, "ns/s"); err != nil {
		t.Fatal(err)
	}
	ep, err := client.CoreV1().Endpoints("ns").Get(ctx, "s", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Annotations[corev1.EndpointsLastChangeTriggerTime] == "" {
		t.Errorf("no %s annotation: %v", corev1.EndpointsLastChangeTriggerTime, ep.Annotations)
	}
	if err := factory.Core().V1().Endpoints().Informer().GetIndexer().Add(ep); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if err := ec.sync(ctx, "ns/s"); err != nil {
		t.Fatal(err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Fatalf("second sync wrote %v", client.Actions())
	}
}

func TestSyncDeletesEndpointsOfDeletedService(t *testing.T) {
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}}
	ec, client, _ := newTestController(t, ep)
	if err := ec.sync(context.Background(), "ns/s"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Endpoints("ns").Get(context.Background(), "s", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("endpoints of a deleted service: %v", err)
	}
}
