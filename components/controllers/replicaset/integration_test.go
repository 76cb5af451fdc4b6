package replicaset_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/components/controllers/replicaset"
	"github.com/kubelab/kubelab/components/controllers/replicaset/workloadtest"
)

func replicaSet(name string, n int32) *appsv1.ReplicaSet {
	labels := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27"}}},
			},
		},
	}
}

// activePods returns the non-terminating pods matching app=name.
func activePods(ctx context.Context, c kubernetes.Interface, ns, name string) ([]corev1.Pod, error) {
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func controlledBy(p *corev1.Pod, uid types.UID) bool {
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.UID == uid
}

func TestReplicaSetIntegration(t *testing.T) {
	cl := workloadtest.Start(t, 2, replicaset.New)
	c := cl.Client

	t.Run("replaces a deleted pod", func(t *testing.T) {
		ctx := t.Context()
		ns := workloadtest.Namespace(t, c, "replace")
		rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, replicaSet("web", 3), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		workloadtest.Eventually(t, 30*time.Second, "3 ready replicas", func() (bool, error) {
			got, err := c.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			s := got.Status
			return s.Replicas == 3 && s.ReadyReplicas == 3 && s.AvailableReplicas == 3 && s.FullyLabeledReplicas == 3 &&
				s.ObservedGeneration == got.Generation, nil
		})
		pods, err := activePods(ctx, c, ns, "web")
		if err != nil || len(pods) != 3 {
			t.Fatalf("pods %d %v", len(pods), err)
		}
		victim := pods[0]
		if !controlledBy(&victim, rs.UID) || victim.GenerateName != "web-" {
			t.Fatalf("pod %s: owner %v generateName %q", victim.Name, victim.OwnerReferences, victim.GenerateName)
		}
		if err := c.CoreV1().Pods(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		workloadtest.Eventually(t, 30*time.Second, "a replacement pod", func() (bool, error) {
			pods, err := activePods(ctx, c, ns, "web")
			if err != nil || len(pods) != 3 {
				return false, err
			}
			for _, p := range pods {
				if p.Name == victim.Name {
					return false, nil
				}
			}
			return true, nil
		})
		// Never more than three: no duplicate replacements appear later.
		time.Sleep(500 * time.Millisecond)
		if pods, _ := activePods(ctx, c, ns, "web"); len(pods) != 3 {
			t.Fatalf("%d pods, want 3", len(pods))
		}
		workloadtest.Eventually(t, 10*time.Second, "4 SuccessfulCreate events", func() (bool, error) {
			evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			created := 0
			for _, e := range evs.Items {
				if e.Reason == replicaset.ReasonSuccessfulCreate && e.InvolvedObject.Kind == "ReplicaSet" && e.Source.Component == "replicaset-controller" {
					created += int(max(e.Count, 1))
				}
			}
			if created > 4 {
				return false, fmt.Errorf("%d pods created, want 4", created)
			}
			return created == 4, nil
		})
	})

	t.Run("adopts an orphan and releases a relabeled pod", func(t *testing.T) {
		ctx := t.Context()
		ns := workloadtest.Namespace(t, c, "adopt")
		orphan := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27"}}},
		}
		if _, err := c.CoreV1().Pods(ns).Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, replicaSet("web", 2), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		workloadtest.Eventually(t, 30*time.Second, "orphan adopted, one pod created", func() (bool, error) {
			pods, err := activePods(ctx, c, ns, "web")
			if err != nil || len(pods) != 2 {
				return false, err
			}
			for i := range pods {
				if !controlledBy(&pods[i], rs.UID) {
					return false, nil
				}
			}
			return true, nil
		})
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{"app": "debug"}}})
		if _, err := c.CoreV1().Pods(ns).Patch(ctx, "orphan", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		workloadtest.Eventually(t, 30*time.Second, "relabeled pod released and replaced", func() (bool, error) {
			p, err := c.CoreV1().Pods(ns).Get(ctx, "orphan", metav1.GetOptions{})
			if err != nil || metav1.GetControllerOf(p) != nil {
				return false, err
			}
			pods, err := activePods(ctx, c, ns, "web")
			if err != nil {
				return false, err
			}
			got, err := c.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
			return err == nil && len(pods) == 2 && got.Status.Replicas == 2, err
		})
	})

	t.Run("scales down and counts availability after minReadySeconds", func(t *testing.T) {
		ctx := t.Context()
		ns := workloadtest.Namespace(t, c, "scale")
		r := replicaSet("web", 4)
		r.Spec.MinReadySeconds = 2
		if _, err := c.AppsV1().ReplicaSets(ns).Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		workloadtest.Eventually(t, 30*time.Second, "4 ready", func() (bool, error) {
			got, err := c.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
			return err == nil && got.Status.ReadyReplicas == 4, err
		})
		workloadtest.Eventually(t, 30*time.Second, "4 available after minReadySeconds", func() (bool, error) {
			got, err := c.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
			return err == nil && got.Status.AvailableReplicas == 4, err
		})
		patch := []byte(`{"spec":{"replicas":1}}`)
		if _, err := c.AppsV1().ReplicaSets(ns).Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		workloadtest.Eventually(t, 30*time.Second, "1 pod left", func() (bool, error) {
			pods, err := activePods(ctx, c, ns, "web")
			got, gerr := c.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
			return err == nil && gerr == nil && len(pods) == 1 && got.Status.Replicas == 1 && got.Status.AvailableReplicas == 1, err
		})
	})
}
