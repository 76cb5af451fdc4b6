package framework

import "testing"

func TestParseSupervisorStatus(t *testing.T) {
	for _, tc := range []struct {
		name, out, program string
		want               Process
		found              bool
	}{
		{"running", "containerd                       RUNNING    pid 14, uptime 0:02:54\nkubelet                          RUNNING    pid 114, uptime 0:02:44\n",
			"kubelet", Process{Name: "kubelet", State: "RUNNING", PID: 114}, true},
		{"backing off", "kubelet                          BACKOFF    Exited too quickly (process log may have details)\n",
			"kubelet", Process{Name: "kubelet", State: "BACKOFF"}, true},
		{"starting", "kubelet                          STARTING   waiting for socket /run/containerd/containerd.sock\n",
			"kubelet", Process{Name: "kubelet", State: "STARTING"}, true},
		{"no such program", "kube-proxy: ERROR (no such process)\n", "kube-proxy", Process{}, false},
		{"another program", "containerd RUNNING pid 14, uptime 0:02:54\n", "kubelet", Process{}, false},
		{"no output", "", "kubelet", Process{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found := parseSupervisorStatus(tc.out, tc.program)
			if got != tc.want || found != tc.found {
				t.Errorf("parseSupervisorStatus = %+v, %v; want %+v, %v", got, found, tc.want, tc.found)
			}
		})
	}
}
