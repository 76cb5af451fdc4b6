package endpointslice

import (
	"context"
	"fmt"
	_ "github.com/kubelab/kubelab/components/controllers/garbagecollector"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
)

func startController(t *testing.T, cp *testcontrolplane.ControlPlane) {
	t.Helper()
	cp.RunController(t, New, 2)
}

func setReady(ctx context.Context, t *testing.T, client kubernetes.Interface, name, ip string, ready bool) {
	t.Helper()
	p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	now := metav1.Now()
	p.Status.Phase, p.Status.PodIP, p.Status.PodIPs, p.Status.StartTime = corev1.PodRunning, ip, []corev1.PodIP{{IP: ip}}, &now
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: now}}
	if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("set status of %s: %v", name, err)
	}
}

// sliceView summarises the managed slices of svc: endpoints per slice
// (sorted) and each address's ready/serving/terminating flags.
type sliceView struct {
	sizes []int
	conds map[string]string
	slice []discoveryv1.EndpointSlice
}

func view(ctx context.Context, client kubernetes.Interface, svc string) (sliceView, error) {
	list, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc + "," + discoveryv1.LabelManagedBy + "=" + ManagedBy})
	if err != nil {
		return sliceView{}, err
	}
	v := sliceView{conds: map[string]string{}, slice: list.Items}
	for _, s := range list.Items {
		v.sizes = append(v.sizes, len(s.Endpoints))
		for _, ep := range s.Endpoints {
			c := ep.Conditions
			v.conds[ep.Addresses[0]] = fmt.Sprintf("%t/%t/%t", *c.Ready, *c.Serving, *c.Terminating)
		}
	}
	sort.Ints(v.sizes)
	return v, nil
}

func waitSlices(ctx context.Context, t *testing.T, client kubernetes.Interface, svc string, what string, ok func(sliceView) bool) (sliceView, time.Duration) {
	t.Helper()
	start := time.Now()
	var last sliceView
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		v, err := view(ctx, client, svc)
		if err != nil {
			return false, nil
		}
		last = v
		return ok(v), nil
	})
	if err != nil {
		t.Fatalf("slices of %s never %s; last sizes %v conds %v", svc, what, last.sizes, last.conds)
	}
	return last, time.Since(start)
}

func TestIntegrationSlicesFollowPods(t *testing.T) {
	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers = []string{"garbagecollector"} })
	ctx := t.Context()
	client := cp.Client
	startController(t, cp)

	const n = 105
	for i := 0; i < n; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%03d", i), Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Image: "nginx",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		setReady(ctx, t, client, p.Name, fmt.Sprintf("10.244.%d.%d", i/200, i%200+2), true)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"tier": "front"}}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "web"},
		Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	created, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, took := waitSlices(ctx, t, client, "web", "hold 100+5 endpoints", func(v sliceView) bool { return fmt.Sprint(v.sizes) == "[5 100]" })
	t.Logf("service created -> %d endpoints in slices %v after %v", n, v.sizes, took)
	for _, s := range v.slice {
		if s.AddressType != discoveryv1.AddressTypeIPv4 || s.Labels["tier"] != "front" || len(s.OwnerReferences) != 1 ||
			s.OwnerReferences[0].UID != created.UID || *s.Ports[0].Port != 8080 {
			t.Errorf("slice %s: type %s labels %v owners %v ports %v", s.Name, s.AddressType, s.Labels, s.OwnerReferences, s.Ports)
		}
	}

	setReady(ctx, t, client, "web-007", "10.244.0.9", false)
	_, took = waitSlices(ctx, t, client, "web", "show web-007 unready", func(v sliceView) bool { return v.conds["10.244.0.9"] == "false/false/false" })
	t.Logf("pod became unready -> slice updated in %v", took)

	setReady(ctx, t, client, "web-007", "10.244.0.9", true)
	_, took = waitSlices(ctx, t, client, "web", "show web-007 ready", func(v sliceView) bool { return v.conds["10.244.0.9"] == "true/true/false" })
	t.Logf("pod became ready -> slice updated in %v", took)

	if err := client.CoreV1().Pods("default").Delete(ctx, "web-008", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, took = waitSlices(ctx, t, client, "web", "show web-008 terminating", func(v sliceView) bool { return v.conds["10.244.0.10"] == "false/true/true" })
	t.Logf("pod terminating -> slice updated in %v", took)

	if err := client.CoreV1().Pods("default").Delete(ctx, "web-008", *metav1.NewDeleteOptions(0)); err != nil {
		t.Fatal(err)
	}
	_, took = waitSlices(ctx, t, client, "web", "drop web-008", func(v sliceView) bool {
		_, present := v.conds["10.244.0.10"]
		return !present && len(v.conds) == n-1
	})
	t.Logf("pod deleted -> slice updated in %v", took)

	// The slices belong to the service: the garbage collector removes them.
	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(ctx, t, client, "web", "go with the service", func(v sliceView) bool { return len(v.slice) == 0 })
}
