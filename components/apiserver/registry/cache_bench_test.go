package registry_test

import (
	"bytes"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubelab/kubelab/components/apiserver/registry"
)

// BenchmarkList500 lists 500 pods and encodes the list as protobuf, as a
// client-go list is answered: from etcd (decoding every pod), from the
// watch cache sharing the cached objects (the list copies each pod's
// top-level struct), from the cache with a deep copy of every pod (the
// alternative to sharing), and from the cache reusing each pod's kept
// encoding (what the server does for protobuf lists).
func BenchmarkList500(b *testing.B) {
	env := newCacheEnv(b, true)
	ctx := b.Context()
	for i := range 500 {
		p := cachePod("ns", fmt.Sprintf("p-%03d", i), i)
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
		if _, err := env.direct.Create(ctx, "ns", p, registry.WriteOptions{FieldManager: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := env.cached.List(ctx, "ns", registry.ListOptions{}); err != nil { // catches up
		b.Fatal(err)
	}
	var buf bytes.Buffer
	encode := func(obj runtime.Object) {
		obj.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
		buf.Reset()
		if err := protoCodec.Encode(obj, &buf); err != nil {
			b.Fatal(err)
		}
	}
	list := func(s *registry.Store, f func(*registry.Store) (runtime.Object, error), deepCopy bool) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				obj, err := f(s)
				if err != nil {
					b.Fatal(err)
				}
				if deepCopy {
					l := obj.(*corev1.PodList)
					items := make([]corev1.Pod, len(l.Items))
					for i := range l.Items {
						l.Items[i].DeepCopyInto(&items[i])
					}
					l.Items = items
				}
				encode(obj)
			}
		}
	}
	typed := func(s *registry.Store) (runtime.Object, error) { return s.List(ctx, "ns", registry.ListOptions{}) }
	kept := func(s *registry.Store) (runtime.Object, error) {
		return s.ListProtobuf(ctx, "ns", registry.ListOptions{})
	}
	b.Run("storage", list(env.direct, typed, false))
	b.Run("cache-shared", list(env.cached, typed, false))
	b.Run("cache-deepcopy", list(env.cached, typed, true))
	b.Run("cache-kept-encodings", list(env.cached, kept, false))
}
