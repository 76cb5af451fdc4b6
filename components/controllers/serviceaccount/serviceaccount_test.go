package serviceaccount

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubelab/kubelab/components/controllers"
)

func TestSync(t *testing.T) {
	active := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	terminating := active.DeepCopy()
	terminating.Status.Phase = corev1.NamespaceTerminating
	existing := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ns"}}
	for _, tc := range []struct {
		name       string
		objs       []runtime.Object
		wantCreate bool
	}{
		{"active namespace without default", []runtime.Object{active}, true},
		{"default exists", []runtime.Object{active, existing}, false},
		{"terminating namespace", []runtime.Object{terminating}, false},
		{"namespace gone", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.objs...)
			f := informers.NewSharedInformerFactory(client, 0)
			ctl, err := New(t.Context(), &controllers.Context{Client: client, Informers: f})
			if err != nil {
				t.Fatal(err)
			}
			f.Start(t.Context().Done())
			f.WaitForCacheSync(t.Context().Done())
			if err := ctl.(*Controller).sync(t.Context(), "ns"); err != nil {
				t.Fatal(err)
			}
			created := false
			for _, a := range client.Actions() {
				if a.GetVerb() == "create" && a.GetResource().Resource == "serviceaccounts" {
					created = true
				}
			}
			if created != tc.wantCreate {
				t.Fatalf("created=%v, want %v", created, tc.wantCreate)
			}
		})
	}
}
