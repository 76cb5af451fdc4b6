package endpointslice

import (
	"context"
	"fmt"
	"github.com/kubelab/kubelab/components/controllers/controllertest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func newTestController(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	ctrl, client, _ := controllertest.New(t, New, objs...)
	controllertest.NameGenerated(client, "endpointslices", false)
	return ctrl.(*Controller), client
}

func service(mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns", UID: "svc-uid", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{
			Selector:   map[string]string{"app": "web"},
			ClusterIP:  "10.96.0.10",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("web")}},
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

func managedSlices(t *testing.T, client *fake.Clientset) []discoveryv1.EndpointSlice {
	t.Helper()
	list, err := client.DiscoveryV1().EndpointSlices("ns").List(context.Background(), metav1.ListOptions{
		LabelSelector: discoveryv1.LabelManagedBy + "=" + ManagedBy})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func countVerbs(client *fake.Clientset) map[string]int {
	out := map[string]int{}
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "endpointslices" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			out[a.GetVerb()]++
		}
	}
	return out
}

func TestSyncBuildsSlices(t *testing.T) {
	terminating := func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }
	zone := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{corev1.LabelTopologyZone: "z1"}}}
	svc := service()
	ec, client := newTestController(t, svc, zone,
		pod("a", "10.0.0.1", true, 8080), pod("b", "10.0.0.2", false, 8080), pod("c", "10.0.0.3", true, 8080, terminating),
		pod("d", "10.0.0.4", true, 8080, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }))
	ec.triggers.Record("ns/s", metav1.Now().Time)
	if err := ec.sync(context.Background(), "ns/s"); err != nil {
		t.Fatal(err)
	}
	slices := managedSlices(t, client)
	if len(slices) != 1 {
		t.Fatalf("got %d slices", len(slices))
	}
	s := slices[0]
	if s.AddressType != discoveryv1.AddressTypeIPv4 || s.Labels[discoveryv1.LabelServiceName] != "s" || s.Labels["team"] != "a" {
		t.Errorf("slice meta: type %s labels %v", s.AddressType, s.Labels)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != svc.UID || s.OwnerReferences[0].Kind != "Service" {
		t.Errorf("owner references %+v", s.OwnerReferences)
	}
	if s.Annotations[corev1.EndpointsLastChangeTriggerTime] == "" {
		t.Errorf("no trigger time annotation")
	}
	if len(s.Ports) != 1 || *s.Ports[0].Port != 8080 || *s.Ports[0].Name != "http" {
		t.Errorf("ports %+v", s.Ports)
	}
	want := map[string][3]bool{ // ready, serving, terminating
		"10.0.0.1": {true, true, false},
		"10.0.0.2": {false, false, false},
		"10.0.0.3": {false, true, true},
	}
	if len(s.Endpoints) != len(want) {
		t.Fatalf("endpoints %+v", s.Endpoints)
	}
	for _, ep := range s.Endpoints {
		w, ok := want[ep.Addresses[0]]
		c := ep.Conditions
		if !ok || *c.Ready != w[0] || *c.Serving != w[1] || *c.Terminating != w[2] {
			t.Errorf("endpoint %s conditions ready=%v serving=%v terminating=%v, want %v", ep.Addresses[0], *c.Ready, *c.Serving, *c.Terminating, w)
		}
		if ep.NodeName == nil || *ep.NodeName != "node-1" || ep.Zone == nil || *ep.Zone != "z1" || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
			t.Errorf("endpoint %s: node/zone/targetRef missing: %+v", ep.Addresses[0], ep)
		}
	}
}

func TestSyncSlicing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		svc   *corev1.Service
		pods  func() []runtime.Object
		sizes map[int]int // endpoints per slice -> number of such slices
		ports int         // ports of a slice with endpoints (-1: placeholder only)
	}{
		{
			name: "250 pods in slices of 100",
			svc:  service(),
			pods: func() []runtime.Object {
				var out []runtime.Object
				for i := 0; i < 250; i++ {
					out = append(out, pod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.0.%d.%d", i/200, i%200+1), true, 8080))
				}
				return out
			},
			sizes: map[int]int{100: 2, 50: 1},
		},
		{
			name: "named port resolving differently splits slices",
			svc:  service(),
			pods: func() []runtime.Object {
				return []runtime.Object{pod("a", "10.0.0.1", true, 8080), pod("b", "10.0.0.2", true, 9090)}
			},
			sizes: map[int]int{1: 2},
		},
		{
			name:  "no pods leaves a placeholder",
			svc:   service(),
			pods:  func() []runtime.Object { return nil },
			sizes: map[int]int{0: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ec, client := newTestController(t, append([]runtime.Object{tc.svc}, tc.pods()...)...)
			if err := ec.sync(context.Background(), "ns/s"); err != nil {
				t.Fatal(err)
			}
			got := map[int]int{}
			for _, s := range managedSlices(t, client) {
				got[len(s.Endpoints)]++
				if len(s.Endpoints) == 0 && len(s.Ports) != 0 {
					t.Errorf("placeholder with ports %+v", s.Ports)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.sizes) {
				t.Fatalf("slice sizes %v, want %v", got, tc.sizes)
			}
		})
	}
}

// existingSlice is a managed slice of svc holding the given pods.
func existingSlice(name string, svc *corev1.Service, pods ...*corev1.Pod) *discoveryv1.EndpointSlice {
	ec := &Controller{nodes: corelisters.NewNodeLister(cache.NewIndexer(cache.MetaNamespaceKeyFunc, nil))}
	s := newSlice(svc, discoveryv1.AddressTypeIPv4, endpointPorts(svc, pods[0]))
	s.Name, s.GenerateName, s.Generation = name, "", 1
	for _, p := range pods {
		ep, _ := ec.podToEndpoint(p, svc, discoveryv1.AddressTypeIPv4)
		s.Endpoints = append(s.Endpoints, ep)
	}
	return s
}

func TestSyncUpdatesInPlace(t *testing.T) {
	svc := service()
	a, b := pod("a", "10.0.0.1", true, 8080), pod("b", "10.0.0.2", true, 8080)
	for _, tc := range []struct {
		name  string
		objs  []runtime.Object
		verbs map[string]int
	}{
		{
			name:  "unchanged slice is not written",
			objs:  []runtime.Object{a, b, existingSlice("s-1", svc, a, b)},
			verbs: map[string]int{},
		},
		{
			name:  "readiness change updates the slice",
			objs:  []runtime.Object{pod("a", "10.0.0.1", false, 8080), b, existingSlice("s-1", svc, a, b)},
			verbs: map[string]int{"update": 1},
		},
		{
			name:  "new pod fills the existing slice",
			objs:  []runtime.Object{a, b, existingSlice("s-1", svc, a)},
			verbs: map[string]int{"update": 1},
		},
		{
			name:  "emptied slice is deleted",
			objs:  []runtime.Object{a, existingSlice("s-1", svc, a), existingSlice("s-2", svc, b)},
			verbs: map[string]int{"delete": 1},
		},
		{
			name: "slice of another owner is deleted",
			objs: []runtime.Object{a, existingSlice("s-1", svc, a), func() runtime.Object {
				s := existingSlice("s-old", svc, a)
				s.OwnerReferences[0].UID = "previous-service"
				return s
			}()},
			verbs: map[string]int{"delete": 1},
		},
		{
			name: "selector removed deletes managed slices only",
			objs: []runtime.Object{a, existingSlice("s-1", svc, a), &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: "user", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "s"}},
				AddressType: discoveryv1.AddressTypeIPv4,
			}},
			verbs: map[string]int{"delete": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := svc
			if tc.name == "selector removed deletes managed slices only" {
				s = service(func(s *corev1.Service) { s.Spec.Selector = nil })
			}
			ec, client := newTestController(t, append([]runtime.Object{s}, tc.objs...)...)
			client.ClearActions()
			if err := ec.sync(context.Background(), "ns/s"); err != nil {
				t.Fatal(err)
			}
			if got := countVerbs(client); fmt.Sprint(got) != fmt.Sprint(tc.verbs) {
				t.Fatalf("writes %v, want %v (%v)", got, tc.verbs, client.Actions())
			}
		})
	}
}

func TestSyncWaitsForStaleCache(t *testing.T) {
	svc := service()
	ec, client := newTestController(t, svc, pod("a", "10.0.0.1", true, 8080))
	ec.tracker.expect("ns/s", "s-created", 1) // created, not yet in the cache
	client.ClearActions()
	if err := ec.sync(context.Background(), "ns/s"); err != nil {
		t.Fatal(err)
	}
	if got := countVerbs(client); len(got) != 0 {
		t.Fatalf("wrote %v on a stale cache (would duplicate slices)", got)
	}
	ec.tracker.observeDeleted("ns/s", "s-created")
	if err := ec.sync(context.Background(), "ns/s"); err != nil {
		t.Fatal(err)
	}
	if got := countVerbs(client); got["create"] != 1 {
		t.Fatalf("writes %v after the cache caught up", got)
	}
}
