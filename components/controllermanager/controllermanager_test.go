package controllermanager_test

import (
	"context"
	_ "github.com/kubelab/kubelab/components/controllermanager/all"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/components/controllermanager"
	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
)

// startManager runs the given controllers against a fresh control plane.
func startManager(t *testing.T, names ...string) (*testcontrolplane.ControlPlane, kubernetes.Interface) {
	t.Helper()
	cp := testcontrolplane.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	o := controllermanager.DefaultOptions()
	o.Controllers, o.LeaderElect = names, false
	go func() {
		defer close(done)
		if err := controllermanager.Run(ctx, cp.Config, o); err != nil {
			t.Errorf("controller-manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return cp, cp.Client
}

func poll(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) { return cond() })
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func cm(name string, owners ...*corev1.ConfigMap) *corev1.ConfigMap {
	c := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
	yes := true
	for _, o := range owners {
		c.OwnerReferences = append(c.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: o.Name, UID: o.UID, BlockOwnerDeletion: &yes})
	}
	return c
}

func gone(client kubernetes.Interface, ns, name string) func() (bool, error) {
	return func() (bool, error) {
		_, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}
}

func TestGarbageCollector(t *testing.T) {
	_, client := startManager(t, "garbagecollector")
	ctx := t.Context()
	cms := client.CoreV1().ConfigMaps("default")
	create := func(c *corev1.ConfigMap) *corev1.ConfigMap {
		out, err := cms.Create(ctx, c, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	t.Run("background", func(t *testing.T) {
		owner := create(cm("bg-owner"))
		create(cm("bg-dep", owner))
		if err := cms.Delete(ctx, "bg-owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, "dependent deleted", gone(client, "default", "bg-dep"))
	})

	t.Run("dangling reference at creation", func(t *testing.T) {
		create(cm("dangling", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "never", UID: "no-such-uid"}}))
		poll(t, "dependent of missing owner deleted", gone(client, "default", "dangling"))
	})

	t.Run("foreground", func(t *testing.T) {
		owner := create(cm("fg-owner"))
		mid := create(cm("fg-mid", owner))
		create(cm("fg-leaf", mid))
		fg := metav1.DeletePropagationForeground
		if err := cms.Delete(ctx, "fg-owner", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
			t.Fatal(err)
		}
		// The owner must outlive its dependents.
		poll(t, "owner gone", func() (bool, error) {
			_, err := cms.Get(ctx, "fg-owner", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				for _, d := range []string{"fg-mid", "fg-leaf"} {
					if _, err := cms.Get(ctx, d, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
						t.Fatalf("owner deleted before dependent %s (err %v)", d, err)
					}
				}
				return true, nil
			}
			return false, err
		})
	})

	t.Run("orphan", func(t *testing.T) {
		owner := create(cm("or-owner"))
		create(cm("or-dep", owner))
		orphan := metav1.DeletePropagationOrphan
		if err := cms.Delete(ctx, "or-owner", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
			t.Fatal(err)
		}
		poll(t, "owner gone", gone(client, "default", "or-owner"))
		dep, err := cms.Get(ctx, "or-dep", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("orphaned dependent deleted: %v", err)
		}
		if len(dep.OwnerReferences) != 0 {
			t.Fatalf("owner reference kept: %v", dep.OwnerReferences)
		}
	})
}

func TestNamespaceAndServiceAccount(t *testing.T) {
	_, client := startManager(t, "namespace", "serviceaccount", "garbagecollector")
	ctx := t.Context()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "default service account", func() (bool, error) {
		_, err := client.CoreV1().ServiceAccounts("doomed").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	for _, name := range []string{"a", "b"} {
		if _, err := client.CoreV1().ConfigMaps("doomed").Create(ctx, cm(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := client.CoreV1().Pods("doomed").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "namespace deleted", func() (bool, error) {
		_, err := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}
