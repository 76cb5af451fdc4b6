package registry_test

import (
	"bytes"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/apiserver/registry"
	"github.com/kubelab/kubelab/components/apiserver/registry/core"
	"github.com/kubelab/kubelab/components/apiserver/storage"
)

func podStore(t *testing.T) (*registry.Store, *storage.Store) {
	t.Helper()
	e, err := storage.StartEmbedded(t.Context(), storage.EmbeddedOptions{Dir: t.TempDir(), UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	st := storage.New(e.Client)
	t.Cleanup(st.Close)
	for _, res := range core.Resources() {
		if res.Name == "pods" {
			return registry.NewStore(res, st, nil, registry.Hooks{}), st
		}
	}
	t.Fatal("no pods resource")
	return nil, nil
}

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "a"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

// TestStoredEncoding checks that objects are written in upstream's storage
// encoding (protobuf) and that values kubelab stored as JSON before still
// read, update and list.
func TestStoredEncoding(t *testing.T) {
	protoPrefix := []byte("k8s\x00")
	tests := []struct {
		name string
		// store writes the pod ns/<name> and returns nothing on success.
		store func(t *testing.T, s *registry.Store, st *storage.Store, name string)
	}{
		{"written through the registry", func(t *testing.T, s *registry.Store, st *storage.Store, name string) {
			if _, err := s.Create(t.Context(), "ns", testPod(name), registry.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			kv, err := st.Get(t.Context(), "/registry/pods/ns/"+name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(kv.Value, protoPrefix) {
				t.Fatalf("stored value is not protobuf: %q", kv.Value[:min(20, len(kv.Value))])
			}
		}},
		{"legacy JSON value", func(t *testing.T, s *registry.Store, st *storage.Store, name string) {
			p := testPod(name)
			p.UID = "legacy-uid"
			s.Resource().Strategy.Default(p)
			data, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Create(t.Context(), "/registry/pods/ns/"+name, data); err != nil {
				t.Fatal(err)
			}
		}},
	}
	s, st := podStore(t)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			name := "p" + string(rune('a'+i))
			tc.store(t, s, st, name)
			obj, err := s.Get(ctx, "ns", name)
			if err != nil {
				t.Fatal(err)
			}
			p := obj.(*corev1.Pod)
			if p.Name != name || p.Labels["app"] != "a" || len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Image != "busybox" || p.ResourceVersion == "" {
				t.Fatalf("read back %+v", p)
			}
			p.Labels["app"] = "b"
			if _, _, err := s.Update(ctx, "ns", name, p, registry.WriteOptions{}); err != nil {
				t.Fatalf("update: %v", err)
			}
			kv, err := st.Get(ctx, "/registry/pods/ns/"+name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(kv.Value, protoPrefix) {
				t.Fatalf("updated value is not protobuf")
			}
			list, err := s.List(ctx, "ns", registry.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, it := range list.(*corev1.PodList).Items {
				if it.Name == name {
					found = it.Labels["app"] == "b"
				}
			}
			if !found {
				t.Fatalf("list lacks the updated pod: %+v", list)
			}
		})
	}
}
