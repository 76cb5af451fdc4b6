package integration

import (
	"fmt"
	"net"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServiceAllocation(t *testing.T) {
	cp := start(t)
	ns := newNamespace(t, cp.Client, "svc")
	t.Run("kubernetes service", func(t *testing.T) { testKubernetesService(t, cp) })
	t.Run("concurrent", func(t *testing.T) { testConcurrentAllocation(t, cp, ns) })
	t.Run("release and reuse", func(t *testing.T) { testReleaseOnDelete(t, cp, ns) })
	t.Run("duplicates", func(t *testing.T) { testDuplicateAllocation(t, cp, ns) })
	t.Run("headless and external", func(t *testing.T) { testHeadlessAndExternalName(t, cp, ns) })
}

var serviceCIDR, staticIP = func() (*net.IPNet, *net.IPNet) {
	_, n, _ := net.ParseCIDR("10.96.0.0/12")
	_, s, _ := net.ParseCIDR("10.96.0.0/24")
	return n, s
}()

func testKubernetesService(t *testing.T, cp controlPlane) {
	svc, err := cp.Client.CoreV1().Services("default").Get(t.Context(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the kubernetes service: %v", err)
	}
	if svc.Spec.ClusterIP != "10.96.0.1" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].Name != "https" {
		t.Errorf("kubernetes service: clusterIP %s ports %+v; want 10.96.0.1 and https/443", svc.Spec.ClusterIP, svc.Spec.Ports)
	}
}

func nodePortService(name string) *corev1.Service {
	svc := testService(name)
	svc.Spec.Type = corev1.ServiceTypeNodePort
	return svc
}

func testConcurrentAllocation(t *testing.T, cp controlPlane, ns string) {
	const n = 50
	var wg sync.WaitGroup
	results := make([]*corev1.Service, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = cp.Client.CoreV1().Services(ns).Create(t.Context(), nodePortService(fmt.Sprintf("c%d", i)), metav1.CreateOptions{})
		}()
	}
	wg.Wait()
	ips, ports := map[string]string{}, map[int32]string{}
	for i, svc := range results {
		if errs[i] != nil {
			t.Errorf("create c%d: %v", i, errs[i])
			continue
		}
		ip := net.ParseIP(svc.Spec.ClusterIP)
		if ip == nil || !serviceCIDR.Contains(ip) || svc.Spec.ClusterIP == "10.96.0.1" {
			t.Errorf("%s: clusterIP %q outside 10.96.0.0/12 or the kubernetes service's", svc.Name, svc.Spec.ClusterIP)
		}
		if len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != svc.Spec.ClusterIP {
			t.Errorf("%s: clusterIPs %v, want [%s]", svc.Name, svc.Spec.ClusterIPs, svc.Spec.ClusterIP)
		}
		if other, dup := ips[svc.Spec.ClusterIP]; dup {
			t.Errorf("%s and %s share clusterIP %s", svc.Name, other, svc.Spec.ClusterIP)
		}
		ips[svc.Spec.ClusterIP] = svc.Name
		// As upstream, random allocations come from the upper band while it
		// has room, leaving the lower one to services that ask for a
		// specific value: ports 30000-30085, addresses 10.96.0.1-10.96.1.0.
		if staticIP.Contains(ip) {
			t.Errorf("%s: clusterIP %s taken at random from the static band", svc.Name, ip)
		}
		port := svc.Spec.Ports[0].NodePort
		if port < 30086 || port > 32767 {
			t.Errorf("%s: nodePort %d outside the dynamic band 30086-32767", svc.Name, port)
		}
		if other, dup := ports[port]; dup {
			t.Errorf("%s and %s share nodePort %d", svc.Name, other, port)
		}
		ports[port] = svc.Name
	}
}

func testReleaseOnDelete(t *testing.T, cp controlPlane, ns string) {
	ctx := t.Context()
	svcs := cp.Client.CoreV1().Services(ns)
	want := nodePortService("reuse")
	want.Spec.ClusterIP = "10.96.0.77"
	want.Spec.Ports[0].NodePort = 30077
	for round := range 3 {
		got, err := svcs.Create(ctx, want.DeepCopy(), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("round %d: create with clusterIP 10.96.0.77 nodePort 30077: %v", round, err)
		}
		if got.Spec.ClusterIP != "10.96.0.77" || got.Spec.Ports[0].NodePort != 30077 {
			t.Fatalf("round %d: got clusterIP %s nodePort %d", round, got.Spec.ClusterIP, got.Spec.Ports[0].NodePort)
		}
		if err := svcs.Delete(ctx, "reuse", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("round %d: delete: %v", round, err)
		}
	}
	// A dry-run create allocates nothing.
	if _, err := svcs.Create(ctx, want.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if _, err := svcs.Create(ctx, want.DeepCopy(), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create after a dry run: %v", err)
	}
	// Changing the type away from NodePort frees the node port.
	got, err := svcs.Get(ctx, "reuse", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Spec.Type = corev1.ServiceTypeClusterIP
	got.Spec.Ports[0].NodePort = 0
	if _, err := svcs.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update to ClusterIP: %v", err)
	}
	other := nodePortService("takes-port")
	other.Spec.Ports[0].NodePort = 30077
	if _, err := svcs.Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Errorf("nodePort 30077 not released by the change to ClusterIP: %v", err)
	}
}

func testDuplicateAllocation(t *testing.T, cp controlPlane, ns string) {
	ctx := t.Context()
	svcs := cp.Client.CoreV1().Services(ns)
	first := nodePortService("first")
	first.Spec.ClusterIP = "10.96.0.88"
	first.Spec.Ports[0].NodePort = 30088
	if _, err := svcs.Create(ctx, first, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		ip        string
		nodePort  int32
		wantField string
	}{
		{"same clusterIP", "10.96.0.88", 0, "spec.clusterIPs[0]"},
		{"kubernetes clusterIP", "10.96.0.1", 0, "spec.clusterIPs[0]"},
		{"same nodePort", "", 30088, "spec.ports[0].nodePort"},
		{"clusterIP out of range", "192.168.0.1", 0, "spec.clusterIPs[0]"},
		{"nodePort out of range", "", 8080, "spec.ports[0].nodePort"},
	}
	for i, c := range cases {
		svc := nodePortService(fmt.Sprintf("dup%d", i))
		svc.Spec.ClusterIP = c.ip
		svc.Spec.Ports[0].NodePort = c.nodePort
		_, err := svcs.Create(ctx, svc, metav1.CreateOptions{})
		se := wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		if !hasCause(se, c.wantField) {
			t.Errorf("%s: causes %+v lack field %s", c.name, se.ErrStatus.Details, c.wantField)
		}
	}
	// The failed creates must not have leaked allocations.
	after := nodePortService("after")
	after.Spec.Ports[0].NodePort = 30089
	if _, err := svcs.Create(ctx, after, metav1.CreateOptions{}); err != nil {
		t.Errorf("create after failures: %v", err)
	}
}

func testHeadlessAndExternalName(t *testing.T, cp controlPlane, ns string) {
	ctx := t.Context()
	svcs := cp.Client.CoreV1().Services(ns)
	h := testService("headless")
	h.Spec.ClusterIP = corev1.ClusterIPNone
	got, err := svcs.Create(ctx, h, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ClusterIP != "None" {
		t.Errorf("headless service clusterIP %q, want None", got.Spec.ClusterIP)
	}
	e := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "external"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}}
	got, err = svcs.Create(ctx, e, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ClusterIP != "" || len(got.Spec.ClusterIPs) != 0 {
		t.Errorf("ExternalName service got clusterIP %q %v", got.Spec.ClusterIP, got.Spec.ClusterIPs)
	}
	// Updating a service keeps its clusterIP even if the client omits it.
	svc, err := svcs.Create(ctx, testService("keep-ip"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := svc.Spec.ClusterIP
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
	svc.Labels = map[string]string{"x": "y"}
	upd, err := svcs.Update(ctx, svc, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update without clusterIP: %v", err)
	}
	if upd.Spec.ClusterIP != ip {
		t.Errorf("update changed clusterIP %s -> %s", ip, upd.Spec.ClusterIP)
	}
	upd.Spec.ClusterIP, upd.Spec.ClusterIPs = "10.96.0.99", []string{"10.96.0.99"}
	_, err = svcs.Update(ctx, upd, metav1.UpdateOptions{})
	wantStatus(t, err, 422, metav1.StatusReasonInvalid)
}

// hasCause reports whether an Invalid error names field.
func hasCause(se interface{ Status() metav1.Status }, field string) bool {
	d := se.Status().Details
	if d == nil {
		return false
	}
	for _, c := range d.Causes {
		if c.Field == field {
			return true
		}
	}
	return false
}
