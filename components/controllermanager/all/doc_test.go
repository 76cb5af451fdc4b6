package all_test

import (
	"testing"

	"github.com/kubelab/kubelab/components/controllermanager"
	_ "github.com/kubelab/kubelab/components/controllermanager/all"
)

// TestAllRegistered pins the controller names the --controllers flag knows.
func TestAllRegistered(t *testing.T) {
	want := []string{"daemonset", "deployment", "endpoint", "endpointslice", "garbagecollector", "job", "namespace",
		"nodeipam", "nodelifecycle", "podgc", "replicaset", "replicationcontroller", "serviceaccount"}
	got := controllermanager.Names()
	if len(got) != len(want) {
		t.Fatalf("registered %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("registered %v, want %v", got, want)
		}
	}
}
