package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubelab/kubelab/components/scheduler/framework"
)

// BenchmarkScheduleCycle measures one scheduling cycle (filter, score,
// assume) on 5,000 nodes filling up with pods, without the API server.
func BenchmarkScheduleCycle(b *testing.B) {
	s, err := NewWithClient(fake.NewClientset(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 5000 {
		s.cache.SetNode(&corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i), Labels: map[string]string{corev1.LabelHostname: fmt.Sprintf("node-%d", i)}},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")},
				Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			},
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Namespace: "default", UID: types.UID(fmt.Sprint(i))},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("100Mi")}}}}},
		}
		pi := framework.NewPodInfo(pod)
		node, err := s.schedulePod(pi)
		if err != nil {
			b.Fatal(err)
		}
		assumed := *pod
		assumed.Spec.NodeName = node
		info := *pi
		info.Pod = &assumed
		if err := s.cache.AssumePod(&info); err != nil {
			b.Fatal(err)
		}
	}
}
