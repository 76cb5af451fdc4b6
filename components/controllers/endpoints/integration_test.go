package endpoints

import (
	"context"
	"fmt"
	_ "github.com/kubelab/kubelab/components/controllers/garbagecollector"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
)

// startController runs the endpoints controller against the control plane.
func startController(t *testing.T, cp *testcontrolplane.ControlPlane) {
	t.Helper()
	cp.RunController(t, New, 2)
}

// setPodStatus plays the kubelet: the pod runs with ip, ready or not.
func setPodStatus(ctx context.Context, t *testing.T, client kubernetes.Interface, name, ip string, ready bool) {
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
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.Status.StartTime = &now
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: now}}
	if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("set status of %s: %v", name, err)
	}
}

// waitEndpoints polls until the endpoints of svc have ready and notReady
// addresses, and returns how long that took.
func waitEndpoints(ctx context.Context, t *testing.T, client kubernetes.Interface, svc string, ready, notReady []string) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		ep, err := client.CoreV1().Endpoints("default").Get(ctx, svc, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		var r, n []string
		for _, s := range ep.Subsets {
			for _, a := range s.Addresses {
				r = append(r, fmt.Sprintf("%s:%d", a.IP, s.Ports[0].Port))
			}
			for _, a := range s.NotReadyAddresses {
				n = append(n, fmt.Sprintf("%s:%d", a.IP, s.Ports[0].Port))
			}
		}
		last = fmt.Sprintf("ready %v notReady %v", r, n)
		return fmt.Sprint(r) == fmt.Sprint(ready) && fmt.Sprint(n) == fmt.Sprint(notReady), nil
	})
	if err != nil {
		t.Fatalf("endpoints %s: want ready %v notReady %v; last %s", svc, ready, notReady, last)
	}
	return time.Since(start)
}

func TestIntegrationEndpointsFollowPods(t *testing.T) {
	// Only the garbage collector runs beside the controller under test, so a
	// controller-manager in the local control plane cannot race it.
	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers = []string{"garbagecollector"} })
	ctx := t.Context()
	client := cp.Client
	startController(t, cp)

	// A selector-less service with user endpoints that must stay untouched.
	manual := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := client.CoreV1().Services("default").Create(ctx, manual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	userEP, err := client.CoreV1().Endpoints("default").Create(ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.168.7.7"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	for i, port := range []int32{8080, 8080, 9090} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Image: "nginx",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}}}}}}
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setPodStatus(ctx, t, client, "web-0", "10.244.0.10", true)
	setPodStatus(ctx, t, client, "web-1", "10.244.0.11", false)
	setPodStatus(ctx, t, client, "web-2", "10.244.0.12", true)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "web"},
		Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(ctx, t, client, "web", []string{"10.244.0.10:8080", "10.244.0.12:9090"}, []string{"10.244.0.11:8080"})

	setPodStatus(ctx, t, client, "web-1", "10.244.0.11", true)
	took := waitEndpoints(ctx, t, client, "web", []string{"10.244.0.10:8080", "10.244.0.11:8080", "10.244.0.12:9090"}, nil)
	t.Logf("pod became ready -> endpoints updated in %v", took)

	setPodStatus(ctx, t, client, "web-0", "10.244.0.10", false)
	took = waitEndpoints(ctx, t, client, "web", []string{"10.244.0.11:8080", "10.244.0.12:9090"}, []string{"10.244.0.10:8080"})
	t.Logf("pod became unready -> endpoints updated in %v", took)

	// Deletion of a bound pod is graceful: it leaves the endpoints at once.
	if err := client.CoreV1().Pods("default").Delete(ctx, "web-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	took = waitEndpoints(ctx, t, client, "web", []string{"10.244.0.11:8080"}, []string{"10.244.0.10:8080"})
	t.Logf("pod terminating -> endpoints updated in %v", took)

	ep, err := client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Annotations[corev1.EndpointsLastChangeTriggerTime] == "" {
		t.Errorf("endpoints lack %s: %v", corev1.EndpointsLastChangeTriggerTime, ep.Annotations)
	}
	got, err := client.CoreV1().Endpoints("default").Get(ctx, "manual", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != userEP.ResourceVersion {
		t.Errorf("user-managed endpoints of a selector-less service were rewritten: %+v", got.Subsets)
	}

	// Deleting the service deletes its endpoints.
	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		return err != nil, nil
	}); err != nil {
		t.Fatal("endpoints of the deleted service remain")
	}
}
