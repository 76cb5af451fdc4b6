package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestNamespaceDeletionEmptiesIt deletes a namespace holding a running
// Deployment, a Service (with the endpoints its controllers made), a
// ConfigMap and a bare pod: the namespace controller deletes all of it,
// the hollow kubelets finish the pods, and the namespace disappears.
func TestNamespaceDeletionEmptiesIt(t *testing.T) {
	cl := startCluster(t, 3)
	ctx := t.Context()
	ns := cl.namespace(t, "doomed")
	if _, err := cl.c.AppsV1().Deployments(ns).Create(ctx, deployment("web", "web:1", 3, 1, 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := cl.c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"a": "b"}}
	if _, err := cl.c.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare", Labels: map[string]string{"app": "bare"}},
		Spec: corev1.PodSpec{Containers: container("bare:1")}}
	if _, err := cl.c.CoreV1().Pods(ns).Create(ctx, bare, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cl.waitRolledOut(t, ns, "web")
	cl.waitRunning(t, ns, "app=bare", 1)
	waitFor(t, "endpoints of 3 ready pods", func(ctx context.Context) (bool, string) {
		ep, err := cl.c.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, s := range ep.Subsets {
			n += len(s.Addresses)
		}
		return n == 3, fmt.Sprintf("subsets %+v", ep.Subsets)
	})
	waitFor(t, "default service account", func(ctx context.Context) (bool, string) {
		_, err := cl.c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})

	start := time.Now()
	if err := cl.c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cl.c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil && got.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("namespace phase %s right after delete, want Terminating", got.Status.Phase)
	}
	waitGone(t, "namespace "+ns, func(ctx context.Context) error {
		_, err := cl.c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return err
	})
	t.Logf("namespace emptied and deleted in %v", time.Since(start).Round(time.Millisecond))
	counts := map[string]func(ctx context.Context) (int, error){
		"pods": func(ctx context.Context) (int, error) {
			l, err := cl.c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			return lenOf(err, func() int { return len(l.Items) })
		},
		"deployments": func(ctx context.Context) (int, error) {
			l, err := cl.c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			return lenOf(err, func() int { return len(l.Items) })
		},
		"replicasets": func(ctx context.Context) (int, error) {
			l, err := cl.c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
			return lenOf(err, func() int { return len(l.Items) })
		},
		"services": func(ctx context.Context) (int, error) {
			l, err := cl.c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
			return lenOf(err, func() int { return len(l.Items) })
		},
		"endpoints": func(ctx context.Context) (int, error) {
			l, err := cl.c.CoreV1().Endpoints(ns).List(ctx, metav1.ListOptions{})
			return lenOf(err, func() int { return len(l.Items) })
		},
		"endpointslices": func(ctx context.Context) (int, error) {
			l, err := cl.c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
			return lenOf(err, func() int { return len(l.Items) })
		},
		"configmaps": func(ctx context.Context) (int, error) {
			l, err := cl.c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
			return lenOf(err, func() int { return len(l.Items) })
		},
		"serviceaccounts": func(ctx context.Context) (int, error) {
			l, err := cl.c.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{})
			return lenOf(err, func() int { return len(l.Items) })
		},
	}
	for what, count := range counts {
		if n, err := count(ctx); err != nil || n != 0 {
			t.Errorf("%s left in the deleted namespace: %d (%v)", what, n, err)
		}
	}
}

// lenOf returns n() unless err is set.
func lenOf(err error, n func() int) (int, error) {
	if err != nil {
		return 0, err
	}
	return n(), nil
}
