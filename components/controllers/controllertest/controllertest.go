// Package controllertest builds controllers over a fake clientset for unit
// tests: their shared informers are seeded with the same objects the fake
// clientset holds, so a test can call a controller's sync directly.
package controllertest

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
)

// irregular lists the kinds whose resource name is not the kind lowercased
// plus "s".
var irregular = map[string]string{"Endpoints": "endpoints"}

// New builds a controller with newController over a fake clientset holding
// objs, with every object also in the informers' caches.
func New(t testing.TB, newController controllers.InitFunc, objs ...runtime.Object) (controllers.Controller, *fake.Clientset, informers.SharedInformerFactory) {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := &controllers.Context{Client: client, Informers: factory,
		Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(100) }}
	ctrl, err := newController(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		gvks, _, err := scheme.Scheme.ObjectKinds(o)
		if err != nil {
			t.Fatal(err)
		}
		gvr, _ := meta.UnsafeGuessKindToResource(gvks[0])
		if r, ok := irregular[gvks[0].Kind]; ok {
			gvr.Resource = r
		}
		inf, err := factory.ForResource(gvr)
		if err != nil {
			t.Fatalf("no informer for %s: %v", gvr, err)
		}
		if err := inf.Informer().GetIndexer().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return ctrl, client, factory
}

// NameGenerated makes client name objects of resource created with only a
// generateName, as the API server does ("<generateName>gen<n>"); withUID
// also gives them that name as their UID.
func NameGenerated(client *fake.Clientset, resource string, withUID bool) {
	n := 0
	client.PrependReactor("create", resource, func(a clienttesting.Action) (bool, runtime.Object, error) {
		m, err := meta.Accessor(a.(clienttesting.CreateAction).GetObject())
		if err == nil && m.GetName() == "" {
			n++
			m.SetName(fmt.Sprintf("%sgen%d", m.GetGenerateName(), n))
			if withUID {
				m.SetUID(types.UID(m.GetName()))
			}
		}
		return false, nil, nil
	})
}
