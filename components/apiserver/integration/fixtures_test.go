package integration

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// resources lists every served resource with a valid fixture.
func resources(c kubernetes.Interface) []resource {
	core, apps := c.CoreV1(), c.AppsV1()
	return []resource{
		typed("namespaces", false, func(string) typedClient[*corev1.Namespace, *corev1.NamespaceList] { return core.Namespaces() },
			func(string) *corev1.Namespace { return &corev1.Namespace{} }),
		typed("pods", true, func(ns string) typedClient[*corev1.Pod, *corev1.PodList] { return core.Pods(ns) },
			func(string) *corev1.Pod { return testPod("") }),
		typed("nodes", false, func(string) typedClient[*corev1.Node, *corev1.NodeList] { return core.Nodes() },
			func(string) *corev1.Node { return &corev1.Node{} }),
		typed("services", true, func(ns string) typedClient[*corev1.Service, *corev1.ServiceList] { return core.Services(ns) },
			func(string) *corev1.Service { return testService("") }),
		typed("endpoints", true, func(ns string) typedClient[*corev1.Endpoints, *corev1.EndpointsList] { return core.Endpoints(ns) },
			func(string) *corev1.Endpoints {
				return &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{
					Addresses: []corev1.EndpointAddress{{IP: "10.244.0.5"}},
					Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
				}}}
			}),
		typed("configmaps", true, func(ns string) typedClient[*corev1.ConfigMap, *corev1.ConfigMapList] { return core.ConfigMaps(ns) },
			func(string) *corev1.ConfigMap { return &corev1.ConfigMap{Data: map[string]string{"k": "v"}} }),
		typed("secrets", true, func(ns string) typedClient[*corev1.Secret, *corev1.SecretList] { return core.Secrets(ns) },
			func(string) *corev1.Secret { return &corev1.Secret{Data: map[string][]byte{"k": []byte("v")}} }),
		typed("serviceaccounts", true, func(ns string) typedClient[*corev1.ServiceAccount, *corev1.ServiceAccountList] {
			return core.ServiceAccounts(ns)
		}, func(string) *corev1.ServiceAccount { return &corev1.ServiceAccount{} }),
		typed("events", true, func(ns string) typedClient[*corev1.Event, *corev1.EventList] { return core.Events(ns) },
			func(ns string) *corev1.Event { return coreEvent("", ns) }),
		typed("replicationcontrollers", true, func(ns string) typedClient[*corev1.ReplicationController, *corev1.ReplicationControllerList] {
			return core.ReplicationControllers(ns)
		}, func(string) *corev1.ReplicationController {
			return &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{
				Replicas: ptr(int32(1)), Selector: map[string]string{"app": "test"},
				Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "test"}}, Spec: testPod("").Spec},
			}}
		}),
		typed("deployments.apps", true, func(ns string) typedClient[*appsv1.Deployment, *appsv1.DeploymentList] { return apps.Deployments(ns) },
			func(string) *appsv1.Deployment { return testDeployment("") }),
		typed("replicasets.apps", true, func(ns string) typedClient[*appsv1.ReplicaSet, *appsv1.ReplicaSetList] { return apps.ReplicaSets(ns) },
			func(string) *appsv1.ReplicaSet {
				return &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(1)), Selector: testSelector(), Template: testTemplate()}}
			}),
		typed("daemonsets.apps", true, func(ns string) typedClient[*appsv1.DaemonSet, *appsv1.DaemonSetList] { return apps.DaemonSets(ns) },
			func(string) *appsv1.DaemonSet {
				return &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Selector: testSelector(), Template: testTemplate()}}
			}),
		typed("jobs.batch", true, func(ns string) typedClient[*batchv1.Job, *batchv1.JobList] { return c.BatchV1().Jobs(ns) },
			func(string) *batchv1.Job { return testJob("") }),
		typed("leases.coordination.k8s.io", true, func(ns string) typedClient[*coordinationv1.Lease, *coordinationv1.LeaseList] {
			return c.CoordinationV1().Leases(ns)
		}, func(string) *coordinationv1.Lease {
			return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("holder"), LeaseDurationSeconds: ptr(int32(40))}}
		}),
		typed("endpointslices.discovery.k8s.io", true, func(ns string) typedClient[*discoveryv1.EndpointSlice, *discoveryv1.EndpointSliceList] {
			return c.DiscoveryV1().EndpointSlices(ns)
		}, func(string) *discoveryv1.EndpointSlice {
			return &discoveryv1.EndpointSlice{
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.5"}}},
				Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)}},
			}
		}),
		typed("events.events.k8s.io", true, func(ns string) typedClient[*eventsv1.Event, *eventsv1.EventList] { return c.EventsV1().Events(ns) },
			func(ns string) *eventsv1.Event { return eventsV1Event("", ns) }),
	}
}

func testService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "test"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80}},
		},
	}
}

func testSelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": "test"}}
}

func testTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "test"}}, Spec: testPod("").Spec}
}

func testDeployment(name string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr(int32(2)), Selector: testSelector(), Template: testTemplate()},
	}
}

func testJob(name string) *batchv1.Job {
	tmpl := testTemplate()
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: batchv1.JobSpec{Template: tmpl}}
}

func coreEvent(name, ns string) *corev1.Event {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web", APIVersion: "v1"},
		Reason:         "Tested", Message: "a test event", Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "integration-test"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
}

func eventsV1Event(name, ns string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: name},
		EventTime:           metav1.NewMicroTime(time.Now()),
		ReportingController: "kubelab.dev/integration-test", ReportingInstance: "test-1",
		Action: "Testing", Reason: "Tested", Note: "a test event", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web", APIVersion: "v1"},
	}
}
