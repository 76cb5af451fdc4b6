package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
	"github.com/kubelab/kubelab/components/scheduler/app"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"percentage", []string{"--percentage-of-nodes-to-score=101"}, "percentage-of-nodes-to-score"},
		{"backoff", []string{"--pod-initial-backoff=5s", "--pod-max-backoff=1s"}, "pod-initial-backoff"},
		{"lease timings", []string{"--leader-elect-lease-duration=1s"}, "leader election"},
		{"lease timings ignored without leader election", []string{"--leader-elect=false", "--leader-elect-lease-duration=1s"}, ""},
		{"lock", []string{"--leader-elect-resource-lock=endpoints"}, `only "leases"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := app.NewOptions()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := o.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// TestCommandSchedules runs the command, with leader election, against a
// control plane and sees a pod bound.
func TestCommandSchedules(t *testing.T) {
	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers, o.NoScheduler = []string{}, true })
	c := cp.Client
	ctx, cancel := context.WithCancel(t.Context())
	cmd := app.NewCommand(ctx)
	cmd.SetArgs([]string{"--kubeconfig", cp.Kubeconfig, "--kube-api-qps=500", "--kube-api-burst=1000",
		"--leader-elect-lease-duration=3s", "--leader-elect-renew-deadline=2s", "--leader-elect-retry-period=200ms"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("command: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("command did not stop")
		}
	}()

	node, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourcePods: resource.MustParse("10")}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := c.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		if err == nil && got.Spec.NodeName == "n1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not bound: %v %v", err, got.Spec.NodeName)
		}
		time.Sleep(50 * time.Millisecond)
	}
	lease, err := c.CoordinationV1().Leases("kube-system").Get(ctx, "kube-scheduler", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil {
		t.Fatalf("lease %v: %v", lease, err)
	}
}
