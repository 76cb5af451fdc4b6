package deployment_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/components/controllers/deployment"
	"github.com/kubelab/kubelab/components/controllers/replicaset/workloadtest"
	"github.com/kubelab/kubelab/components/kubelet/hollow"
)

func newDeployment(name string, n int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{hollow.AnnotationReadyAfterSeconds: "0.3"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

func rolling(d *appsv1.Deployment, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}}
	return d
}

// rolledOut is kubectl rollout status's success test plus the Progressing
// condition the controller sets on completion.
func rolledOut(d *appsv1.Deployment) bool {
	s := d.Status
	if d.Generation > s.ObservedGeneration || s.UpdatedReplicas != *d.Spec.Replicas || s.Replicas != s.UpdatedReplicas || s.AvailableReplicas != s.UpdatedReplicas {
		return false
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentProgressing {
			return c.Reason == deployment.ReasonNewRSAvailable
		}
	}
	return false
}

func waitRolledOut(t *testing.T, c kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	workloadtest.Eventually(t, 60*time.Second, "deployment "+name+" rolled out", func() (bool, error) {
		var err error
		d, err = c.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && rolledOut(d), err
	})
	return d
}

// ownedReplicaSets returns the replica sets controlled by d, by revision.
func ownedReplicaSets(t *testing.T, c kubernetes.Interface, d *appsv1.Deployment) map[string]*appsv1.ReplicaSet {
	t.Helper()
	list, err := c.AppsV1().ReplicaSets(d.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*appsv1.ReplicaSet{}
	for i := range list.Items {
		rs := &list.Items[i]
		if metav1.IsControlledBy(rs, d) {
			out[rs.Annotations[deployment.RevisionAnnotation]] = rs
		}
	}
	return out
}

// podWatch follows the pods of a namespace through a watch and checks an
// invariant after every event, so it sees every state the API server
// went through.
type podWatch struct {
	mu         sync.Mutex
	pods       map[string]*corev1.Pod
	violations []string
	events     int
	stop       context.CancelFunc
	done       chan struct{}
}

func watchPods(t *testing.T, c kubernetes.Interface, ns string, check func(pods map[string]*corev1.Pod) string) *podWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &podWatch{pods: map[string]*corev1.Pod{}, stop: cancel, done: make(chan struct{})}
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		w.pods[list.Items[i].Name] = &list.Items[i]
	}
	if msg := check(w.pods); msg != "" {
		t.Fatalf("invariant does not hold before the rollout: %s", msg)
	}
	rv := list.ResourceVersion
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			wi, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
			if err != nil {
				if ctx.Err() == nil {
					w.fail(fmt.Sprintf("watch: %v", err))
				}
				return
			}
			for ev := range wi.ResultChan() {
				if ev.Type == watch.Error {
					if ctx.Err() != nil {
						return
					}
					w.fail(fmt.Sprintf("watch error: %v", ev.Object))
					wi.Stop()
					return
				}
				p, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				rv = p.ResourceVersion
				if ev.Type == watch.Bookmark {
					continue
				}
				w.mu.Lock()
				if ev.Type == watch.Deleted {
					delete(w.pods, p.Name)
				} else {
					w.pods[p.Name] = p
				}
				w.events++
				if msg := check(w.pods); msg != "" {
					w.violations = append(w.violations, fmt.Sprintf("after %s %s: %s", ev.Type, p.Name, msg))
				}
				w.mu.Unlock()
			}
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *podWatch) fail(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.violations = append(w.violations, msg)
}

func (w *podWatch) close() {
	w.stop()
	<-w.done
}

// result stops the watch and returns the violations and the event count.
func (w *podWatch) result() ([]string, int) {
	w.close()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.violations, w.events
}

// update applies mutate to the deployment, retrying on conflicts (the
// controller writes the revision annotation on the object too).
func update(t *testing.T, c kubernetes.Interface, ns, name string, mutate func(*appsv1.Deployment)) {
	t.Helper()
	ctx := context.Background()
	for {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mutate(d)
		if _, err = c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
}

func setImage(t *testing.T, c kubernetes.Interface, ns, name, image string) {
	t.Helper()
	update(t, c, ns, name, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image })
}

func images(t *testing.T, c kubernetes.Interface, ns string) map[string]int {
	t.Helper()
	list, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Spec.Containers[0].Image]++
		}
	}
	return out
}
