package daemonset

import (
	"context"
	"fmt"
	"github.com/kubelab/kubelab/components/controllers/controllertest"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

func newTestController(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	ctrl, client, _ := controllertest.New(t, New, objs...)
	controllertest.NameGenerated(client, "pods", false)
	return ctrl.(*Controller), client
}

func daemonSet(mutate ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "ds-uid", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "agent:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one, MaxSurge: &zero}},
		},
	}
	for _, m := range mutate {
		m(ds)
	}
	return ds
}

func node(name string, mutate ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, m := range mutate {
		m(n)
	}
	return n
}

// daemonPod is a running daemon pod of ds on nodeName, made from the
// template with hash (ready and available).
func daemonPod(ds *appsv1.DaemonSet, nodeName, hash string, ready bool) *corev1.Pod {
	p := newPod(ds, nodeName, hash)
	p.Name = "agent-" + nodeName + "-" + hash
	p.UID = types.UID(p.Name)
	p.Spec.NodeName = nodeName
	p.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Hour))
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{
		Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour))}}}
	return p
}

// writes returns "create:<node>" and "delete:<pod>" of the sync, sorted.
func writes(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		if a.GetResource().Resource != "pods" {
			continue
		}
		switch a := a.(type) {
		case clienttesting.CreateAction:
			out = append(out, "create:"+targetNode(a.GetObject().(*corev1.Pod)))
		case clienttesting.DeleteAction:
			out = append(out, "delete:"+a.GetName())
		}
	}
	sort.Strings(out)
	return out
}

func TestShouldRun(t *testing.T) {
	taint := func(key string, effect corev1.TaintEffect) func(*corev1.Node) {
		return func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: effect}) }
	}
	affinity := func(op corev1.NodeSelectorOperator, key string, values ...string) func(*corev1.PodSpec) {
		return func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}}}}}
		}
	}
	labelled := func(k, v string) func(*corev1.Node) { return func(n *corev1.Node) { n.Labels[k] = v } }
	for _, tc := range []struct {
		name      string
		node      *corev1.Node
		spec      func(*corev1.PodSpec)
		run, cont bool
	}{
		{"plain node", node("n"), nil, true, true},
		{"nodeSelector matches", node("n", labelled("disk", "ssd")), func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"disk": "ssd"} }, true, true},
		{"nodeSelector misses", node("n"), func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"disk": "ssd"} }, false, false},
		{"affinity In", node("n", labelled("zone", "a")), affinity(corev1.NodeSelectorOpIn, "zone", "a", "b"), true, true},
		{"affinity NotIn", node("n", labelled("zone", "a")), affinity(corev1.NodeSelectorOpNotIn, "zone", "a"), false, false},
		{"affinity DoesNotExist", node("n"), affinity(corev1.NodeSelectorOpDoesNotExist, "gpu"), true, true},
		{"affinity Gt", node("n", labelled("cores", "8")), affinity(corev1.NodeSelectorOpGt, "cores", "4"), true, true},
		{"affinity Lt fails", node("n", labelled("cores", "8")), affinity(corev1.NodeSelectorOpLt, "cores", "4"), false, false},
		{"template nodeName elsewhere", node("n"), func(s *corev1.PodSpec) { s.NodeName = "other" }, false, false},
		{"NoSchedule taint keeps running pod", node("n", taint("dedicated", corev1.TaintEffectNoSchedule)), nil, false, true},
		{"NoExecute taint evicts", node("n", taint("dedicated", corev1.TaintEffectNoExecute)), nil, false, false},
		{"PreferNoSchedule ignored", node("n", taint("dedicated", corev1.TaintEffectPreferNoSchedule)), nil, true, true},
		{"tolerated taint", node("n", taint("dedicated", corev1.TaintEffectNoExecute)), func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
		}, true, true},
		{"not-ready node tolerated by daemon pods", node("n", taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)), nil, true, true},
		{"unreachable node tolerated by daemon pods", node("n", taint(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)), nil, true, true},
		{"cordoned node tolerated by daemon pods", node("n", taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)), nil, true, true},
		{"network-unavailable only for host network", node("n", taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), nil, false, true},
		{"network-unavailable host network", node("n", taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), func(s *corev1.PodSpec) { s.HostNetwork = true }, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &corev1.PodSpec{}
			if tc.spec != nil {
				tc.spec(spec)
			}
			addDaemonTolerations(spec)
			run, cont := shouldRun(tc.node, spec)
			if run != tc.run || cont != tc.cont {
				t.Fatalf("shouldRun = %v, %v; want %v, %v", run, cont, tc.run, tc.cont)
			}
		})
	}
}

func TestSyncManage(t *testing.T) {
	ds := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "worker"} })
	hash := templateHash(ds)
	worker := func(n *corev1.Node) { n.Labels["role"] = "worker" }
	failed := daemonPod(ds, "n2", hash, false)
	failed.Status.Phase = corev1.PodFailed
	orphanUnbound := newPod(ds, "gone", hash)
	orphanUnbound.Name, orphanUnbound.UID = "agent-gone", "agent-gone"
	extra := daemonPod(ds, "n1", hash, true)
	extra.Name, extra.UID, extra.CreationTimestamp = "agent-extra", "agent-extra", metav1.Now()
	for _, tc := range []struct {
		name string
		objs []runtime.Object
		want []string
	}{
		{"creates on eligible nodes", []runtime.Object{node("n1", worker), node("n2", worker), node("n3")}, []string{"create:n1", "create:n2"}},
		{"nothing to do", []runtime.Object{node("n1", worker), daemonPod(ds, "n1", hash, true)}, nil},
		{"deletes on a node no longer eligible", []runtime.Object{node("n1"), daemonPod(ds, "n1", hash, true)}, []string{"delete:agent-n1-" + hash}},
		{"replaces a failed pod", []runtime.Object{node("n2", worker), failed}, []string{"delete:" + failed.Name}},
		{"deletes an unbound pod of a deleted node", []runtime.Object{node("n1", worker), daemonPod(ds, "n1", hash, true), orphanUnbound}, []string{"delete:agent-gone"}},
		{"keeps the oldest of two pods", []runtime.Object{node("n1", worker), daemonPod(ds, "n1", hash, true), extra}, []string{"delete:agent-extra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsc, client := newTestController(t, append([]runtime.Object{ds}, tc.objs...)...)
			if err := dsc.sync(context.Background(), "ns/agent"); err != nil {
				t.Fatal(err)
			}
			if got := writes(client); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("writes %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewPod(t *testing.T) {
	ds := daemonSet(func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "role", Operator: corev1.NodeSelectorOpExists}}}}},
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 1}},
		}}
		ds.Annotations = map[string]string{appsv1.DeprecatedTemplateGeneration: "3"}
	})
	p := newPod(ds, "n7", "abc")
	if targetNode(p) != "n7" || p.Spec.NodeName != "" {
		t.Errorf("pod must be pinned by affinity to n7 and unbound: nodeName %q target %q", p.Spec.NodeName, targetNode(p))
	}
	if len(p.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("preferred affinity lost")
	}
	if p.Labels[appsv1.ControllerRevisionHashLabelKey] != "abc" || p.Labels["app"] != "agent" || p.Labels[templateGenerationLabel] != "3" {
		t.Errorf("labels %v", p.Labels)
	}
	if len(p.Spec.Tolerations) != 6 {
		t.Errorf("tolerations %v: want the 6 daemon tolerations", p.Spec.Tolerations)
	}
	for _, tol := range p.Spec.Tolerations {
		if tol.TolerationSeconds != nil {
			t.Errorf("toleration %v must not expire", tol)
		}
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != ds.UID || ref.Kind != "DaemonSet" {
		t.Errorf("owner %v", ref)
	}
	if templateHash(ds) != templateHash(ds.DeepCopy()) {
		t.Errorf("hash not stable")
	}
	changed := ds.DeepCopy()
	changed.Spec.Template.Spec.Containers[0].Image = "agent:2"
	if templateHash(ds) == templateHash(changed) {
		t.Errorf("hash ignores the image")
	}
}

func TestRollingUpdate(t *testing.T) {
	old := daemonSet()
	oldHash := templateHash(old)
	ds := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" })
	hash := templateHash(ds)
	surge := func(ds *appsv1.DaemonSet) {
		one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
		ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: &one, MaxUnavailable: &zero}
	}
	nodes := []runtime.Object{node("n1"), node("n2"), node("n3")}
	for _, tc := range []struct {
		name   string
		mutate func(*appsv1.DaemonSet)
		pods   []runtime.Object
		want   []string
	}{
		{"deletes one old pod", nil, []runtime.Object{daemonPod(old, "n1", oldHash, true), daemonPod(old, "n2", oldHash, true), daemonPod(old, "n3", oldHash, true)},
			[]string{"delete:agent-n1-" + oldHash}},
		{"waits for the new pod to be available", nil, []runtime.Object{daemonPod(ds, "n1", hash, false), daemonPod(old, "n2", oldHash, true), daemonPod(old, "n3", oldHash, true)},
			nil},
		{"unavailable old pods go regardless", nil, []runtime.Object{daemonPod(ds, "n1", hash, false), daemonPod(old, "n2", oldHash, false), daemonPod(old, "n3", oldHash, true)},
			[]string{"delete:agent-n2-" + oldHash}},
		{"done", nil, []runtime.Object{daemonPod(ds, "n1", hash, true), daemonPod(ds, "n2", hash, true), daemonPod(ds, "n3", hash, true)}, nil},
		{"OnDelete leaves old pods", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		}, []runtime.Object{daemonPod(old, "n1", oldHash, true), daemonPod(old, "n2", oldHash, true), daemonPod(old, "n3", oldHash, true)}, nil},
		{"surge creates a new pod beside an old one", surge, []runtime.Object{daemonPod(old, "n1", oldHash, true), daemonPod(old, "n2", oldHash, true), daemonPod(old, "n3", oldHash, true)},
			[]string{"create:n1"}},
		{"surge deletes the old pod once the new one is available, and moves on", surge, []runtime.Object{
			daemonPod(old, "n1", oldHash, true), daemonPod(ds, "n1", hash, true), daemonPod(old, "n2", oldHash, true), daemonPod(old, "n3", oldHash, true)},
			[]string{"create:n2", "delete:agent-n1-" + oldHash}},
		{"surge waits while the new pod is not available", surge, []runtime.Object{
			daemonPod(old, "n1", oldHash, true), daemonPod(ds, "n1", hash, false), daemonPod(old, "n2", oldHash, true), daemonPod(old, "n3", oldHash, true)},
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := ds.DeepCopy()
			if tc.mutate != nil {
				tc.mutate(d)
			}
			h := templateHash(d)
			// Pods "of ds" carry the hash of the mutated daemon set.
			var objs []runtime.Object
			for _, o := range tc.pods {
				p := o.(*corev1.Pod).DeepCopy()
				if p.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
					p.Labels[appsv1.ControllerRevisionHashLabelKey] = h
				}
				objs = append(objs, p)
			}
			dsc, client := newTestController(t, append(append([]runtime.Object{d}, nodes...), objs...)...)
			if err := dsc.sync(context.Background(), "ns/agent"); err != nil {
				t.Fatal(err)
			}
			if got := writes(client); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("writes %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	old := daemonSet()
	ds := daemonSet(func(ds *appsv1.DaemonSet) {
		ds.Generation = 4
		ds.Spec.Template.Spec.Containers[0].Image = "agent:2"
		ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "worker"}
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	})
	worker := func(n *corev1.Node) { n.Labels["role"] = "worker" }
	hash := templateHash(ds)
	dsc, client := newTestController(t, ds, node("n1", worker), node("n2", worker), node("n3", worker), node("n4"),
		daemonPod(ds, "n1", hash, true), daemonPod(old, "n2", templateHash(old), false), daemonPod(ds, "n4", hash, true))
	if err := dsc.sync(context.Background(), "ns/agent"); err != nil {
		t.Fatal(err)
	}
	got, err := client.AppsV1().DaemonSets("ns").Get(context.Background(), "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := appsv1.DaemonSetStatus{ObservedGeneration: 4, DesiredNumberScheduled: 3, CurrentNumberScheduled: 2, NumberMisscheduled: 1,
		NumberReady: 1, NumberAvailable: 1, UpdatedNumberScheduled: 1, NumberUnavailable: 2}
	if !equalStatus(&got.Status, &want) {
		t.Fatalf("status %+v\nwant   %+v", got.Status, want)
	}
}

func TestBadInputCreatesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		ds   *appsv1.DaemonSet
	}{
		{"selector does not match template", daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Labels = map[string]string{"other": "x"} })},
		{"empty selector", daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} })},
		{"invalid selector", daemonSet(func(ds *appsv1.DaemonSet) {
			ds.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsc, client := newTestController(t, tc.ds, node("n1"))
			if err := dsc.sync(context.Background(), "ns/agent"); err != nil {
				t.Fatal(err)
			}
			if got := writes(client); len(got) != 0 {
				t.Fatalf("writes %v", got)
			}
		})
	}
}
