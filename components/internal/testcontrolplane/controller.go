package testcontrolplane

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
)

// RunController builds one controller from a fresh controllers.Context
// (shared informers, events recorded to the API server, default options)
// and runs it with workers until the test ends: the way a controller's own
// integration test runs it without the whole controller-manager.
func (cp *ControlPlane) RunController(t testing.TB, newController controllers.InitFunc, workers int) {
	t.Helper()
	ctx := t.Context()
	factory := informers.NewSharedInformerFactory(cp.Client, 0)
	bc := record.NewBroadcaster(record.WithContext(ctx))
	bc.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cp.Client.CoreV1().Events("")})
	t.Cleanup(bc.Shutdown)
	c := &controllers.Context{Config: cp.Config, Client: cp.Client, Informers: factory, Options: controllers.DefaultOptions(),
		Recorder: func(component string) record.EventRecorder {
			return bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
		}}
	ctrl, err := newController(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	go ctrl.Run(ctx, workers)
}
