package endpoints

import (
	"context"
	"fmt"
	_ "github.com/kubelab/kubelab/components/controllers/garbagecollector"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/endpoints/servicepods"
	"github.com/kubelab/kubelab/components/controllers/endpointslice"
	"github.com/kubelab/kubelab/components/controllers/nodeipam"
	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
	"github.com/kubelab/kubelab/components/kubelet/hollow"
	"github.com/kubelab/kubelab/components/scheduler"
)

// TestHollowEndpointsFollowReadiness runs pods on hollow nodes (scheduled
// by the scheduler, IPs from node IPAM) that turn ready after a delay, and
// checks that Endpoints and EndpointSlices follow them, logging how long
// after the pod turned ready the address was published.
func TestHollowEndpointsFollowReadiness(t *testing.T) {
	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers = []string{"garbagecollector"} })
	ctx := t.Context()
	client := cp.Client
	bc := record.NewBroadcaster(record.WithContext(ctx))
	bc.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	t.Cleanup(bc.Shutdown)
	cc := &controllers.Context{Config: cp.Config, Client: client, Options: controllers.DefaultOptions(),
		Informers: informers.NewSharedInformerFactory(client, 0),
		Recorder: func(component string) record.EventRecorder {
			return bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
		}}
	var ctrls []controllers.Controller
	for _, build := range []controllers.InitFunc{nodeipam.New, New, endpointslice.New} {
		c, err := build(ctx, cc)
		if err != nil {
			t.Fatal(err)
		}
		ctrls = append(ctrls, c)
	}
	cc.Informers.Start(ctx.Done())
	for _, c := range ctrls {
		go c.Run(ctx, 2)
	}
	sched, err := scheduler.New(cp.Config, scheduler.Options{Recorder: bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "default-scheduler"})})
	if err != nil {
		t.Fatal(err)
	}
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Run(ctx) }()
	t.Cleanup(func() { <-schedDone })
	nodes, err := hollow.New(cp.Config, hollow.Options{Count: 2, RenewInterval: time.Second, StatusUpdateInterval: 5 * time.Second, KillDelay: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- nodes.Run(ctx) }()
	t.Cleanup(func() { <-done })
	<-nodes.Ready()

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "web"},
		Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{hollow.AnnotationReadyAfterSeconds: "1"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Watch pods and Endpoints: when each pod turned ready, and when its
	// address was first published as not ready and then as ready.
	var mu sync.Mutex
	podReadyAt, notReadySeen, readyAt := map[string]time.Time{}, map[string]bool{}, map[string]time.Time{}
	watch := informers.NewSharedInformerFactory(client, 0)
	watch.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj interface{}) {
			p := obj.(*corev1.Pod)
			mu.Lock()
			defer mu.Unlock()
			if _, ok := podReadyAt[p.Status.PodIP]; !ok && p.Status.PodIP != "" && servicepods.IsPodReady(p) {
				podReadyAt[p.Status.PodIP] = time.Now()
			}
		},
	})
	onEndpoints := func(obj interface{}) {
		ep := obj.(*corev1.Endpoints)
		if ep.Name != "web" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, s := range ep.Subsets {
			for _, a := range s.NotReadyAddresses {
				notReadySeen[a.IP] = true
			}
			for _, a := range s.Addresses {
				if _, ok := readyAt[a.IP]; !ok {
					readyAt[a.IP] = time.Now()
				}
			}
		}
	}
	watch.Core().V1().Endpoints().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onEndpoints, UpdateFunc: func(_, obj interface{}) { onEndpoints(obj) },
	})
	watch.Start(ctx.Done())

	// counts returns the ready addresses in Endpoints and slices.
	counts := func(ctx context.Context) (epReady, sliceReady int) {
		if ep, err := client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{}); err == nil {
			for _, s := range ep.Subsets {
				epReady += len(s.Addresses)
			}
		}
		if list, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"}); err == nil {
			for _, s := range list.Items {
				for _, e := range s.Endpoints {
					if *e.Conditions.Ready {
						sliceReady++
					}
				}
			}
		}
		return
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
		er, sr := counts(ctx)
		return er == 3 && sr == 3, nil
	}); err != nil {
		er, sr := counts(ctx)
		t.Fatalf("addresses never all ready: endpoints %d, slices %d", er, sr)
	}
	mu.Lock()
	for ip, at := range readyAt {
		if !notReadySeen[ip] {
			t.Errorf("%s was never published as not ready before it turned ready", ip)
		}
		if p, ok := podReadyAt[ip]; ok {
			t.Logf("pod %s ready -> endpoints ready after %v", ip, at.Sub(p).Round(time.Millisecond))
		}
	}
	mu.Unlock()

	// A deleted pod leaves the ready addresses at once (it terminates for
	// the kill delay); slices keep it as terminating until it is gone.
	if err := client.CoreV1().Pods("default").Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		er, sr := counts(ctx)
		return er == 2 && sr == 2, nil
	}); err != nil {
		t.Fatal("deleted pod still published as ready")
	}
	t.Logf("pod deleted -> unpublished in %v", time.Since(start))
}
