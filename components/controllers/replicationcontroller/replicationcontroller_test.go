package replicationcontroller

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/replicaset/workloadtest"
)

func rc(name string, n int32) *corev1.ReplicationController {
	labels := map[string]string{"app": name}
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "rc-uid", Generation: 3},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: &n, Selector: labels,
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
		},
	}
}

func TestConversionRoundTrip(t *testing.T) {
	in := rc("web", 2)
	in.Status = corev1.ReplicationControllerStatus{Replicas: 2, FullyLabeledReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1, ObservedGeneration: 3,
		Conditions: []corev1.ReplicationControllerCondition{{Type: corev1.ReplicationControllerReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "m"}}}
	rs := ToReplicaSet(in)
	if rs.Kind != "ReplicationController" || rs.Spec.Selector.MatchLabels["app"] != "web" || *rs.Spec.Replicas != 2 ||
		rs.Spec.Template.Spec.Containers[0].Image != "img" || rs.UID != "rc-uid" {
		t.Fatalf("view %+v", rs)
	}
	if rs.Status.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure {
		t.Fatalf("condition type %q", rs.Status.Conditions[0].Type)
	}
	if back := StatusToRC(rs.Status); !apiequality.Semantic.DeepEqual(back, in.Status) {
		t.Fatalf("round trip %+v != %+v", back, in.Status)
	}
}

func TestSyncCreatesPodsOwnedByRC(t *testing.T) {
	client := fake.NewClientset(rc("web", 2))
	var seq atomic.Int32
	client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p := a.(clienttesting.CreateAction).GetObject().(*corev1.Pod)
		p.Name = p.GenerateName + strconv.Itoa(int(seq.Add(1)))
		return false, nil, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	ctl, err := New(t.Context(), &controllers.Context{Client: client, Informers: f, Recorder: func(string) record.EventRecorder { return rec }})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(t.Context().Done())
	f.WaitForCacheSync(t.Context().Done())
	go ctl.Run(t.Context(), 1)
	workloadtest.Eventually(t, 10*time.Second, "2 pods and a status", func() (bool, error) {
		pods, err := client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
		if err != nil || len(pods.Items) != 2 {
			return false, err
		}
		for _, p := range pods.Items {
			ref := metav1.GetControllerOf(&p)
			if ref == nil || ref.Kind != "ReplicationController" || ref.APIVersion != "v1" || ref.UID != "rc-uid" {
				t.Fatalf("owner %+v", p.OwnerReferences)
			}
		}
		got, err := client.CoreV1().ReplicationControllers("ns").Get(context.Background(), "web", metav1.GetOptions{})
		return err == nil && got.Status.ObservedGeneration == 3 && got.Status.Replicas == 2, err
	})
	select {
	case e := <-rec.Events:
		if !strings.HasPrefix(e, "Normal SuccessfulCreate Created pod: web-") {
			t.Fatalf("event %q", e)
		}
	default:
		t.Fatal("no event")
	}
}

func TestIntegration(t *testing.T) {
	cl := workloadtest.Start(t, 1, New)
	c, ctx := cl.Client, t.Context()
	ns := workloadtest.Namespace(t, c, "rc")
	in := rc("web", 3)
	in.Namespace, in.UID, in.Generation = "", "", 0
	created, err := c.CoreV1().ReplicationControllers(ns).Create(ctx, in, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	workloadtest.Eventually(t, 30*time.Second, "3 ready replicas", func() (bool, error) {
		got, err := c.CoreV1().ReplicationControllers(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := got.Status
		return s.Replicas == 3 && s.ReadyReplicas == 3 && s.AvailableReplicas == 3 && s.FullyLabeledReplicas == 3 && s.ObservedGeneration == got.Generation, nil
	})
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods.Items) != 3 {
		t.Fatalf("pods %v %v", pods, err)
	}
	victim := pods.Items[0]
	if ref := metav1.GetControllerOf(&victim); ref == nil || ref.UID != created.UID || ref.Kind != "ReplicationController" {
		t.Fatalf("owner %+v", victim.OwnerReferences)
	}
	if err := c.CoreV1().Pods(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	workloadtest.Eventually(t, 30*time.Second, "replacement", func() (bool, error) {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		n := 0
		for _, p := range list.Items {
			if p.Name == victim.Name {
				return false, nil
			}
			if p.DeletionTimestamp == nil {
				n++
			}
		}
		return n == 3, nil
	})
	evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.Reason == "SuccessfulCreate" {
			if e.InvolvedObject.Kind != "ReplicationController" || e.InvolvedObject.Name != "web" || e.Source.Component != Component {
				t.Fatalf("event on %+v from %q", e.InvolvedObject, e.Source.Component)
			}
			return
		}
	}
	t.Fatal("no SuccessfulCreate event")
}
