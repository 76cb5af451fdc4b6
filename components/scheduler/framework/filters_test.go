package framework

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func reasons(s *Status) []string {
	if s == nil {
		return nil
	}
	return s.Reasons
}

func TestFilterUnschedulable(t *testing.T) {
	tests := []struct {
		name string
		node *corev1.Node
		pod  *corev1.Pod
		want []string
	}{
		{"schedulable", node("n", "1", "1Gi", 10), pod("p", "", ""), nil},
		{"cordoned", node("n", "1", "1Gi", 10, cordoned), pod("p", "", ""), []string{ReasonUnschedulable}},
		{"cordoned but tolerated", node("n", "1", "1Gi", 10, cordoned),
			pod("p", "", "", tolerate(corev1.Toleration{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})), nil},
		{"cordoned, toleration for another effect", node("n", "1", "1Gi", 10, cordoned),
			pod("p", "", "", tolerate(corev1.Toleration{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})), []string{ReasonUnschedulable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reasons(FilterUnschedulable(NewPodInfo(tt.pod), nodeInfo(tt.node)))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFilterTaints(t *testing.T) {
	existsAll := corev1.Toleration{Operator: corev1.TolerationOpExists}
	tests := []struct {
		name string
		node *corev1.Node
		pod  *corev1.Pod
		want []string
	}{
		{"no taints", node("n", "1", "1Gi", 10), pod("p", "", ""), nil},
		{"NoSchedule untolerated", node("n", "1", "1Gi", 10, withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)), pod("p", "", ""),
			[]string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{"NoExecute untolerated", node("n", "1", "1Gi", 10, withTaint("k", "", corev1.TaintEffectNoExecute)), pod("p", "", ""),
			[]string{"node(s) had untolerated taint {k: }"}},
		{"PreferNoSchedule only scores", node("n", "1", "1Gi", 10, withTaint("k", "v", corev1.TaintEffectPreferNoSchedule)), pod("p", "", ""), nil},
		{"Equal toleration", node("n", "1", "1Gi", 10, withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
			pod("p", "", "", tolerate(corev1.Toleration{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule})), nil},
		{"Equal toleration, other value", node("n", "1", "1Gi", 10, withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
			pod("p", "", "", tolerate(corev1.Toleration{Key: "dedicated", Value: "cpu"})), []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{"Exists with empty key tolerates all", node("n", "1", "1Gi", 10, withTaint("a", "b", corev1.TaintEffectNoExecute)),
			pod("p", "", "", tolerate(existsAll)), nil},
		{"not ready node is implicitly tainted", node("n", "1", "1Gi", 10, withReady(corev1.ConditionFalse)), pod("p", "", ""),
			[]string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}},
		{"unknown node is implicitly unreachable", node("n", "1", "1Gi", 10, withReady(corev1.ConditionUnknown)), pod("p", "", ""),
			[]string{"node(s) had untolerated taint {node.kubernetes.io/unreachable: }"}},
		{"default NoExecute toleration does not tolerate not-ready NoSchedule", node("n", "1", "1Gi", 10, withReady(corev1.ConditionFalse)),
			pod("p", "", "", tolerate(corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})),
			[]string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}},
		{"daemon pod tolerates not-ready", node("n", "1", "1Gi", 10, withReady(corev1.ConditionFalse)),
			pod("p", "", "", tolerate(corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists})), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reasons(FilterTaints(NewPodInfo(tt.pod), nodeInfo(tt.node)))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFilterResources(t *testing.T) {
	withInit := func(cpu, mem string, sidecar bool) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			c := corev1.Container{Name: "init", Resources: corev1.ResourceRequirements{Requests: requests(cpu, mem)}}
			if sidecar {
				always := corev1.ContainerRestartPolicyAlways
				c.RestartPolicy = &always
			}
			p.Spec.InitContainers = append(p.Spec.InitContainers, c)
		}
	}
	gpu := func(n string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse(n)
		}
	}
	tests := []struct {
		name     string
		node     *corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     []string
	}{
		{"fits", node("n", "2", "2Gi", 10), nil, pod("p", "1", "1Gi"), nil},
		{"fits exactly", node("n", "2", "2Gi", 10), []*corev1.Pod{pod("a", "1", "1Gi")}, pod("p", "1", "1Gi"), nil},
		{"cpu", node("n", "2", "2Gi", 10), []*corev1.Pod{pod("a", "1500m", "")}, pod("p", "1", "1Gi"), []string{"Insufficient cpu"}},
		{"memory", node("n", "2", "2Gi", 10), []*corev1.Pod{pod("a", "", "1500Mi")}, pod("p", "1", "1Gi"), []string{"Insufficient memory"}},
		{"cpu and memory", node("n", "1", "1Gi", 10), nil, pod("p", "2", "2Gi"), []string{"Insufficient cpu", "Insufficient memory"}},
		{"too many pods", node("n", "2", "2Gi", 1), []*corev1.Pod{pod("a", "", "")}, pod("p", "1", "1Gi"), []string{"Too many pods"}},
		{"too many pods and cpu", node("n", "2", "2Gi", 1), []*corev1.Pod{pod("a", "2", "")}, pod("p", "1", ""), []string{"Too many pods", "Insufficient cpu"}},
		{"no requests fit a full node", node("n", "1", "1Gi", 10), []*corev1.Pod{pod("a", "1", "1Gi")}, pod("p", "", ""), nil},
		{"init container max rule fits", node("n", "2", "2Gi", 10), nil, pod("p", "1", "", withInit("2", "", false)), nil},
		{"init container larger than node", node("n", "2", "2Gi", 10), nil, pod("p", "1", "", withInit("3", "", false)), []string{"Insufficient cpu"}},
		{"sidecar adds to containers", node("n", "2", "2Gi", 10), nil, pod("p", "1500m", "", withInit("1", "", true)), []string{"Insufficient cpu"}},
		{"extended resource missing", node("n", "2", "2Gi", 10), nil, pod("p", "1", "", gpu("1")), []string{"Insufficient example.com/gpu"}},
		{"extended resource present", node("n", "2", "2Gi", 10, withAllocatable("example.com/gpu", "2")), nil, pod("p", "1", "", gpu("2")), nil},
		{"overhead counts", node("n", "2", "2Gi", 10), nil, pod("p", "1500m", "", func(p *corev1.Pod) {
			p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("600m")}
		}), []string{"Insufficient cpu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reasons(FilterResources(NewPodInfo(tt.pod), nodeInfo(tt.node, tt.existing...)))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFilterNodeSelector(t *testing.T) {
	expr := func(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	name := func(op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: op, Values: values}}}
	}
	n := node("n1", "1", "1Gi", 10, withLabels("zone", "a", "gen", "5"))
	tests := []struct {
		name string
		pod  *corev1.Pod
		fit  bool
	}{
		{"no selector", pod("p", "", ""), true},
		{"nodeSelector match", pod("p", "", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "a"} }), true},
		{"nodeSelector mismatch", pod("p", "", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "b"} }), false},
		{"In", pod("p", "", "", requiredNodeAffinity(expr("zone", corev1.NodeSelectorOpIn, "a", "b"))), true},
		{"In mismatch", pod("p", "", "", requiredNodeAffinity(expr("zone", corev1.NodeSelectorOpIn, "c"))), false},
		{"NotIn", pod("p", "", "", requiredNodeAffinity(expr("zone", corev1.NodeSelectorOpNotIn, "c"))), true},
		{"NotIn mismatch", pod("p", "", "", requiredNodeAffinity(expr("zone", corev1.NodeSelectorOpNotIn, "a"))), false},
		{"Exists", pod("p", "", "", requiredNodeAffinity(expr("gen", corev1.NodeSelectorOpExists))), true},
		{"DoesNotExist", pod("p", "", "", requiredNodeAffinity(expr("gpu", corev1.NodeSelectorOpDoesNotExist))), true},
		{"DoesNotExist mismatch", pod("p", "", "", requiredNodeAffinity(expr("gen", corev1.NodeSelectorOpDoesNotExist))), false},
		{"Gt", pod("p", "", "", requiredNodeAffinity(expr("gen", corev1.NodeSelectorOpGt, "4"))), true},
		{"Gt mismatch", pod("p", "", "", requiredNodeAffinity(expr("gen", corev1.NodeSelectorOpGt, "5"))), false},
		{"Lt", pod("p", "", "", requiredNodeAffinity(expr("gen", corev1.NodeSelectorOpLt, "6"))), true},
		{"Gt with a non-integer is invalid and matches nothing", pod("p", "", "", requiredNodeAffinity(expr("gen", corev1.NodeSelectorOpGt, "x"))), false},
		{"terms are ORed", pod("p", "", "", requiredNodeAffinity(expr("zone", corev1.NodeSelectorOpIn, "c"), expr("gen", corev1.NodeSelectorOpIn, "5"))), true},
		{"empty term matches nothing", pod("p", "", "", requiredNodeAffinity(corev1.NodeSelectorTerm{})), false},
		{"no terms matches nothing", pod("p", "", "", requiredNodeAffinity()), false},
		{"matchFields name In", pod("p", "", "", requiredNodeAffinity(name(corev1.NodeSelectorOpIn, "n1"))), true},
		{"matchFields name In other", pod("p", "", "", requiredNodeAffinity(name(corev1.NodeSelectorOpIn, "n2"))), false},
		{"matchFields name NotIn", pod("p", "", "", requiredNodeAffinity(name(corev1.NodeSelectorOpNotIn, "n2"))), true},
		{"nodeSelector and affinity are ANDed", pod("p", "", "", requiredNodeAffinity(expr("zone", corev1.NodeSelectorOpIn, "a")),
			func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"gen": "4"} }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FilterNodeSelector(NewPodInfo(tt.pod), nodeInfo(n)) == nil
			if got != tt.fit {
				t.Fatalf("fit = %v, want %v", got, tt.fit)
			}
		})
	}
}

func TestFilterPorts(t *testing.T) {
	tests := []struct {
		name     string
		existing *corev1.Pod
		pod      *corev1.Pod
		fit      bool
	}{
		{"no ports", pod("a", "", "", hostPort(80, "")), pod("p", "", ""), true},
		{"same port", pod("a", "", "", hostPort(80, "")), pod("p", "", "", hostPort(80, "")), false},
		{"other port", pod("a", "", "", hostPort(80, "")), pod("p", "", "", hostPort(81, "")), true},
		{"different IPs", pod("a", "", "", hostPort(80, "10.0.0.1")), pod("p", "", "", hostPort(80, "10.0.0.2")), true},
		{"wildcard wanted", pod("a", "", "", hostPort(80, "10.0.0.1")), pod("p", "", "", hostPort(80, "")), false},
		{"wildcard used", pod("a", "", "", hostPort(80, "")), pod("p", "", "", hostPort(80, "10.0.0.2")), false},
		{"other protocol", pod("a", "", "", hostPort(80, "")), pod("p", "", "", hostPort(80, ""), func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[0].Protocol = corev1.ProtocolUDP
		}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FilterPorts(NewPodInfo(tt.pod), nodeInfo(node("n", "1", "1Gi", 10), tt.existing)) == nil
			if got != tt.fit {
				t.Fatalf("fit = %v, want %v", got, tt.fit)
			}
		})
	}
}

func TestNodeInfoRemovePodRestoresTotals(t *testing.T) {
	ni := nodeInfo(node("n", "4", "4Gi", 10), pod("a", "1", "1Gi", hostPort(80, ""), ownedBy("rs")), pod("b", "500m", "", antiAffinity(corev1.LabelHostname, "app", "x")))
	if _, ok := ni.RemovePod("a"); !ok {
		t.Fatal("pod a not found")
	}
	if ni.Requested.MilliCPU != 500 || ni.Requested.Memory != 0 || len(ni.UsedPorts) != 0 || ni.OwnerCount("rs") != 0 || len(ni.Pods) != 1 {
		t.Fatalf("after removing a: requested %+v ports %v owners %d pods %d", ni.Requested, ni.UsedPorts, ni.OwnerCount("rs"), len(ni.Pods))
	}
	if ni.NonZeroMemory != DefaultMemoryRequest {
		t.Fatalf("non-zero memory %d, want default %d", ni.NonZeroMemory, DefaultMemoryRequest)
	}
	ni.RemovePod("b")
	if len(ni.PodsWithAffinity) != 0 || len(ni.PodsWithRequiredAntiAffinity) != 0 || ni.NonZeroCPU != 0 {
		t.Fatalf("after removing b: %+v", ni)
	}
}
