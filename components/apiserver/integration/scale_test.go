package integration

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// scaleClient is the scale subresource of one kind of workload.
type scaleClient struct {
	resource string
	rest     rest.Interface
	getScale func(ctx context.Context, name string) (*autoscalingv1.Scale, error)
	update   func(ctx context.Context, name string, s *autoscalingv1.Scale) (*autoscalingv1.Scale, error)
	// replicas reads spec.replicas of the workload itself.
	replicas func(ctx context.Context, name string) (int32, error)
	create   func(ctx context.Context, name string) error
}

func TestScaleSubresource(t *testing.T) {
	cp := start(t)
	ns := newNamespace(t, cp.Client, "scale")
	apps, core := cp.Client.AppsV1(), cp.Client.CoreV1()
	clients := []scaleClient{
		{
			resource: "deployments", rest: apps.RESTClient(),
			getScale: func(ctx context.Context, n string) (*autoscalingv1.Scale, error) {
				return apps.Deployments(ns).GetScale(ctx, n, metav1.GetOptions{})
			},
			update: func(ctx context.Context, n string, s *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
				return apps.Deployments(ns).UpdateScale(ctx, n, s, metav1.UpdateOptions{})
			},
			replicas: func(ctx context.Context, n string) (int32, error) {
				d, err := apps.Deployments(ns).Get(ctx, n, metav1.GetOptions{})
				if err != nil {
					return 0, err
				}
				return *d.Spec.Replicas, nil
			},
			create: func(ctx context.Context, n string) error {
				_, err := apps.Deployments(ns).Create(ctx, testDeployment(n), metav1.CreateOptions{})
				return err
			},
		},
		{
			resource: "replicasets", rest: apps.RESTClient(),
			getScale: func(ctx context.Context, n string) (*autoscalingv1.Scale, error) {
				return apps.ReplicaSets(ns).GetScale(ctx, n, metav1.GetOptions{})
			},
			update: func(ctx context.Context, n string, s *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
				return apps.ReplicaSets(ns).UpdateScale(ctx, n, s, metav1.UpdateOptions{})
			},
			replicas: func(ctx context.Context, n string) (int32, error) {
				rs, err := apps.ReplicaSets(ns).Get(ctx, n, metav1.GetOptions{})
				if err != nil {
					return 0, err
				}
				return *rs.Spec.Replicas, nil
			},
			create: func(ctx context.Context, n string) error {
				rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: n},
					Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(2)), Selector: testSelector(), Template: testTemplate()}}
				_, err := apps.ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
				return err
			},
		},
		{
			resource: "replicationcontrollers", rest: core.RESTClient(),
			getScale: func(ctx context.Context, n string) (*autoscalingv1.Scale, error) {
				return core.ReplicationControllers(ns).GetScale(ctx, n, metav1.GetOptions{})
			},
			update: func(ctx context.Context, n string, s *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
				return core.ReplicationControllers(ns).UpdateScale(ctx, n, s, metav1.UpdateOptions{})
			},
			replicas: func(ctx context.Context, n string) (int32, error) {
				rc, err := core.ReplicationControllers(ns).Get(ctx, n, metav1.GetOptions{})
				if err != nil {
					return 0, err
				}
				return *rc.Spec.Replicas, nil
			},
			create: func(ctx context.Context, n string) error {
				tmpl := testTemplate()
				rc := &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: n},
					Spec: corev1.ReplicationControllerSpec{Replicas: ptr(int32(2)), Selector: map[string]string{"app": "test"}, Template: &tmpl}}
				_, err := core.ReplicationControllers(ns).Create(ctx, rc, metav1.CreateOptions{})
				return err
			},
		},
	}
	for _, c := range clients {
		t.Run(c.resource, func(t *testing.T) { testScale(t, c, ns) })
	}
}

func testScale(t *testing.T, c scaleClient, ns string) {
	ctx := t.Context()
	const name = "web"
	if err := c.create(ctx, name); err != nil {
		t.Fatal(err)
	}
	s, err := c.getScale(ctx, name)
	if err != nil {
		t.Fatalf("get scale: %v", err)
	}
	if s.Spec.Replicas != 2 || s.Name != name || s.Namespace != ns || s.UID == "" || s.ResourceVersion == "" || s.Status.Selector != "app=test" {
		t.Errorf("scale %+v, want 2 replicas, selector app=test and the workload's metadata", s)
	}
	if s.Kind != "Scale" && s.Kind != "" || (s.APIVersion != "" && s.APIVersion != "autoscaling/v1") {
		t.Errorf("scale kind %s/%s", s.APIVersion, s.Kind)
	}

	stale := s.DeepCopy()
	s.Spec.Replicas = 4
	s, err = c.update(ctx, name, s)
	if err != nil {
		t.Fatalf("update scale: %v", err)
	}
	if s.Spec.Replicas != 4 {
		t.Errorf("updated scale has %d replicas, want 4", s.Spec.Replicas)
	}
	if n, err := c.replicas(ctx, name); err != nil || n != 4 {
		t.Errorf("spec.replicas after scale update = %d (%v), want 4", n, err)
	}
	stale.Spec.Replicas = 1
	_, err = c.update(ctx, name, stale)
	wantStatus(t, err, 409, metav1.StatusReasonConflict)

	var patched autoscalingv1.Scale
	err = c.rest.Patch(types.MergePatchType).Namespace(ns).Resource(c.resource).Name(name).SubResource("scale").
		Body([]byte(`{"spec":{"replicas":6}}`)).Do(ctx).Into(&patched)
	if err != nil {
		t.Fatalf("patch scale: %v", err)
	}
	if patched.Spec.Replicas != 6 {
		t.Errorf("patched scale has %d replicas, want 6", patched.Spec.Replicas)
	}
	if n, err := c.replicas(ctx, name); err != nil || n != 6 {
		t.Errorf("spec.replicas after scale patch = %d (%v), want 6", n, err)
	}

	s.ResourceVersion = ""
	s.Spec.Replicas = -1
	_, err = c.update(ctx, name, s)
	wantStatus(t, err, 422, metav1.StatusReasonInvalid)
	_, err = c.getScale(ctx, "missing")
	wantStatus(t, err, 404, metav1.StatusReasonNotFound)
}
