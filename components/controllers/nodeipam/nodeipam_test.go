package nodeipam

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
)

func node(name, cidr string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)}}
	if cidr != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	}
	return n
}

// newTestController builds the controller over a fake clientset holding
// objs, with synced caches and the allocation map rebuilt.
func newTestController(t *testing.T, cluster string, objs ...runtime.Object) (*Controller, *fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(10)
	opts := controllers.DefaultOptions()
	opts.ClusterCIDR = cluster
	ctl, err := New(t.Context(), &controllers.Context{Client: client, Informers: f, Options: opts,
		Recorder: func(string) record.EventRecorder { return rec }})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(t.Context().Done())
	f.WaitForCacheSync(t.Context().Done())
	c := ctl.(*Controller)
	if err := c.rebuild(); err != nil {
		t.Fatal(err)
	}
	return c, client, rec
}

// podCIDR reads the node's podCIDR from the fake API.
func podCIDR(t *testing.T, client *fake.Clientset, name string) string {
	t.Helper()
	n, err := client.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
		t.Fatalf("podCIDR %q and podCIDRs %v disagree", n.Spec.PodCIDR, n.Spec.PodCIDRs)
	}
	return n.Spec.PodCIDR
}

// waitCached waits until the node lister reflects the API.
func waitCached(t *testing.T, c *Controller, name string, present bool, cidr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, err := c.nodes.Get(name)
		if present && err == nil && n.Spec.PodCIDR == cidr || !present && err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("cache never showed node %s present=%v cidr=%q", name, present, cidr)
}

func TestSync(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster string
		nodes   []*corev1.Node
		sync    string
		want    string // the synced node's podCIDR afterwards
		wantErr bool
	}{
		{"first free subnet", "10.244.0.0/22", []*corev1.Node{node("a", "")}, "a", "10.244.0.0/24", false},
		{"existing assignments are kept", "10.244.0.0/22",
			[]*corev1.Node{node("a", "10.244.0.0/24"), node("b", "10.244.1.0/24"), node("c", "")}, "c", "10.244.2.0/24", false},
		{"a node that has one keeps it", "10.244.0.0/22", []*corev1.Node{node("a", "10.244.3.0/24")}, "a", "10.244.3.0/24", false},
		{"dual-stack", "10.244.0.0/22,fd00:10:244::/56", []*corev1.Node{node("a", "")}, "a", "10.244.0.0/24", false},
		{"range full", "10.244.0.0/24", []*corev1.Node{node("a", "10.244.0.0/24"), node("b", "")}, "b", "", true},
		{"gone node is a no-op", "10.244.0.0/24", nil, "ghost", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, n := range tc.nodes {
				objs = append(objs, n)
			}
			c, client, rec := newTestController(t, tc.cluster, objs...)
			err := c.sync(t.Context(), tc.sync)
			if (err != nil) != tc.wantErr {
				t.Fatalf("sync: %v, wantErr %v", err, tc.wantErr)
			}
			if tc.sync == "ghost" {
				return
			}
			if got := podCIDR(t, client, tc.sync); got != tc.want {
				t.Fatalf("podCIDR = %q, want %q", got, tc.want)
			}
			if tc.wantErr {
				select {
				case e := <-rec.Events:
					if !strings.Contains(e, "CIDRNotAvailable") {
						t.Fatalf("event %q", e)
					}
				default:
					t.Fatal("no CIDRNotAvailable event")
				}
			}
		})
	}
}

func TestDualStackPatch(t *testing.T) {
	c, client, _ := newTestController(t, "10.244.0.0/22,fd00:10:244::/56", node("a", ""))
	if err := c.sync(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	n, _ := client.CoreV1().Nodes().Get(t.Context(), "a", metav1.GetOptions{})
	if want := []string{"10.244.0.0/24", "fd00:10:244::/64"}; len(n.Spec.PodCIDRs) != 2 || n.Spec.PodCIDRs[0] != want[0] || n.Spec.PodCIDRs[1] != want[1] {
		t.Fatalf("podCIDRs = %v, want %v", n.Spec.PodCIDRs, want)
	}
}

func TestReleaseOnDelete(t *testing.T) {
	c, client, _ := newTestController(t, "10.244.0.0/24", node("a", ""), node("b", ""))
	ctx := t.Context()
	if err := c.sync(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := c.sync(ctx, "b"); err == nil {
		t.Fatal("second node got a CIDR from a one-subnet range")
	}
	// Syncing a again (stale cache or not) never takes a second subnet.
	if err := c.sync(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Nodes().Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCached(t, c, "a", false, "")
	if err := c.sync(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := c.sync(ctx, "b"); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if got := podCIDR(t, client, "b"); got != "10.244.0.0/24" {
		t.Fatalf("b got %q", got)
	}
}

func TestNewRequiresClusterCIDR(t *testing.T) {
	client := fake.NewClientset()
	opts := controllers.DefaultOptions()
	opts.ClusterCIDR = ""
	_, err := New(t.Context(), &controllers.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0), Options: opts,
		Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(1) }})
	if err == nil {
		t.Fatal("no error without a cluster CIDR")
	}
}
