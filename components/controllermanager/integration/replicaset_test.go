package integration

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// replicaSet is a ReplicaSet of replicas pods labelled app=name.
func replicaSet(name string, replicas int32) *appsv1.ReplicaSet {
	labels := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: container("app:1")},
			},
		},
	}
}

// atMostActive is an invariant: no more than n active pods.
func atMostActive(n int) func([]*corev1.Pod) string {
	return func(pods []*corev1.Pod) string {
		active := 0
		for _, p := range pods {
			if podActive(p) {
				active++
			}
		}
		if active > n {
			return fmt.Sprintf("%d active pods, want at most %d", active, n)
		}
		return ""
	}
}

// waitRSStatus waits until the ReplicaSet's status reports replicas
// pods, all ready and available, for its current generation.
func (cl *cluster) waitRSStatus(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	waitFor(t, fmt.Sprintf("replicaset %s status %d/%d", name, replicas, replicas), func(ctx context.Context) (bool, string) {
		rs, err := cl.c.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s := rs.Status
		return s.ObservedGeneration == rs.Generation && s.Replicas == replicas && s.ReadyReplicas == replicas &&
			s.AvailableReplicas == replicas && s.FullyLabeledReplicas == replicas, fmt.Sprintf("%+v", s)
	})
}

// TestReplicaSetReplacesDeletedPod deletes a running pod of a ReplicaSet:
// the controller creates a replacement, the scheduler binds it and a
// hollow node runs it, and there are never more than 3 active pods.
func TestReplicaSetReplacesDeletedPod(t *testing.T) {
	cl := startCluster(t, 3)
	ctx := t.Context()
	ns := cl.namespace(t, "rs")
	obs := cl.observePods(t, ns, "app=web", atMostActive(3))
	if _, err := cl.c.AppsV1().ReplicaSets(ns).Create(ctx, replicaSet("web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := cl.waitRunning(t, ns, "app=web", 3)
	cl.waitRSStatus(t, ns, "web", 3)
	nodes := map[string]bool{}
	for _, p := range before {
		nodes[p.Spec.NodeName] = true
		if len(p.OwnerReferences) != 1 || p.OwnerReferences[0].Name != "web" || !ptr.Deref(p.OwnerReferences[0].Controller, false) {
			t.Errorf("pod %s owner references %v, want controller web", p.Name, p.OwnerReferences)
		}
		if p.Status.PodIP == "" {
			t.Errorf("pod %s has no IP", p.Name)
		}
	}
	if len(nodes) != 3 {
		t.Errorf("3 pods of one owner on %d nodes, want them spread over 3", len(nodes))
	}

	victim := before[0]
	if err := cl.c.CoreV1().Pods(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a replacement running", func(ctx context.Context) (bool, string) {
		pods, err := cl.listPods(ctx, ns, "app=web")
		if err != nil {
			return false, err.Error()
		}
		ids := uids(pods)
		if _, ok := ids[string(victim.UID)]; ok || len(pods) != 3 {
			return false, describePods(pods)
		}
		running := 0
		for i := range pods {
			if pods[i].Status.Phase == corev1.PodRunning && podReady(&pods[i]) {
				running++
			}
		}
		return running == 3, describePods(pods)
	})
	after := cl.waitRunning(t, ns, "app=web", 3)
	kept := 0
	for id := range uids(after) {
		if _, ok := uids(before)[id]; ok {
			kept++
		}
	}
	if kept != 2 {
		t.Errorf("%d of the untouched pods kept, want 2: before %s, after %s", kept, describePods(before), describePods(after))
	}
	cl.waitRSStatus(t, ns, "web", 3)
	obs.catchUp(t)
	obs.assertNoViolations(t)
	if n := len(obs.everSeen()); n != 4 {
		t.Errorf("%d pods were ever created, want 4 (3 and a replacement)", n)
	}
}
