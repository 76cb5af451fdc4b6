package servicepods

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestFindPort(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080},
			{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP},
		}}},
		InitContainers: []corev1.Container{{RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "sidecar", ContainerPort: 9000}}}},
	}}
	for _, tc := range []struct {
		name string
		sp   corev1.ServicePort
		want int
		err  bool
	}{
		{"named", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}, 8080, false},
		{"named needs protocol", corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("dns")}, 0, true},
		{"named udp", corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}, 5353, false},
		{"sidecar", corev1.ServicePort{Port: 90, TargetPort: intstr.FromString("sidecar")}, 9000, false},
		{"missing", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("nope")}, 0, true},
		{"number", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(81)}, 81, false},
		{"unset", corev1.ServicePort{Port: 80}, 80, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindPort(pod, &tc.sp)
			if got != tc.want || (err != nil) != tc.err {
				t.Fatalf("FindPort = %d, %v; want %d, err %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestTriggerTracker(t *testing.T) {
	tr := NewTriggerTracker()
	t0 := time.Unix(100, 0)
	tr.Record("k", t0.Add(time.Second))
	tr.Record("k", t0)
	got, mark := tr.Peek("k")
	if !got.Equal(t0) {
		t.Fatalf("Peek = %v, want earliest %v", got, t0)
	}
	tr.Record("k", t0.Add(5*time.Second)) // arrives while the sync runs
	tr.Done("k", mark)
	if got, _ := tr.Peek("k"); !got.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("after Done, Peek = %v; the change recorded during the sync must stay", got)
	}
}

func TestPodIP(t *testing.T) {
	pod := func(primary string, all ...string) *corev1.Pod {
		p := &corev1.Pod{Status: corev1.PodStatus{PodIP: primary}}
		for _, ip := range all {
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
		}
		return p
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		ipv6 bool
		want string
	}{
		{"v4 primary", pod("10.0.0.1", "10.0.0.1", "fd00::1"), false, "10.0.0.1"},
		{"v6 secondary", pod("10.0.0.1", "10.0.0.1", "fd00::1"), true, "fd00::1"},
		{"v6 primary", pod("fd00::1", "fd00::1", "10.0.0.1"), true, "fd00::1"},
		{"no v6", pod("10.0.0.1"), true, ""},
		{"no ip", pod(""), false, ""},
		{"garbage skipped", pod("nope", "10.0.0.2"), false, "10.0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PodIP(tc.pod, tc.ipv6); got != tc.want {
				t.Fatalf("PodIP(ipv6=%v) = %q, want %q", tc.ipv6, got, tc.want)
			}
		})
	}
}
