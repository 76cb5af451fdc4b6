package endpoints

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRepack(t *testing.T) {
	a := corev1.EndpointAddress{IP: "10.0.0.1"}
	b := corev1.EndpointAddress{IP: "10.0.0.2"}
	p1 := corev1.EndpointPort{Name: "p1", Port: 1}
	p2 := corev1.EndpointPort{Name: "p2", Port: 2}
	for _, tc := range []struct {
		name string
		in   []corev1.EndpointSubset
		want []wantSubset
	}{
		{
			name: "shared port merges addresses",
			in: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{b}, Ports: []corev1.EndpointPort{p1}},
				{Addresses: []corev1.EndpointAddress{a}, Ports: []corev1.EndpointPort{p1}},
				{Addresses: []corev1.EndpointAddress{a}, Ports: []corev1.EndpointPort{p2}},
			},
			want: []wantSubset{{port: 1, ready: []string{"10.0.0.1", "10.0.0.2"}}, {port: 2, ready: []string{"10.0.0.1"}}},
		},
		{
			name: "ready wins over not ready",
			in: []corev1.EndpointSubset{
				{NotReadyAddresses: []corev1.EndpointAddress{a}, Ports: []corev1.EndpointPort{p1}},
				{Addresses: []corev1.EndpointAddress{a}, Ports: []corev1.EndpointPort{p1}},
				{NotReadyAddresses: []corev1.EndpointAddress{b}, Ports: []corev1.EndpointPort{p1}},
			},
			want: []wantSubset{{port: 1, ready: []string{"10.0.0.1"}, notReady: []string{"10.0.0.2"}}},
		},
		{name: "empty", in: nil, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := repack(tc.in)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v", got)
			}
			for i, w := range tc.want {
				if got[i].Ports[0].Port != w.port || !equalSlices(addrIPs(got[i].Addresses), w.ready) || !equalSlices(addrIPs(got[i].NotReadyAddresses), w.notReady) {
					t.Errorf("subset %d = %+v, want %+v", i, got[i], w)
				}
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	var ready, notReady []corev1.EndpointAddress
	for i := 0; i < 800; i++ {
		ready = append(ready, corev1.EndpointAddress{IP: "r"})
		notReady = append(notReady, corev1.EndpointAddress{IP: "n"})
	}
	out, truncated := truncate([]corev1.EndpointSubset{{Addresses: ready, NotReadyAddresses: notReady}})
	if !truncated || len(out[0].Addresses) != 800 || len(out[0].NotReadyAddresses) != 200 {
		t.Fatalf("truncated=%v ready=%d notReady=%d", truncated, len(out[0].Addresses), len(out[0].NotReadyAddresses))
	}
}
