package deployment_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/controllers/deployment"
	"github.com/kubelab/kubelab/components/controllers/replicaset"
	"github.com/kubelab/kubelab/components/controllers/replicaset/workloadtest"
)

const kubectlPath = "/usr/bin/kubectl"

// TestKubectlRollout drives a deployment with the real kubectl: rollout
// status after create, set image, undo, pause/resume and restart.
func TestKubectlRollout(t *testing.T) {
	if _, err := os.Stat(kubectlPath); err != nil {
		t.Skipf("kubectl not installed: %v", err)
	}
	cl := workloadtest.Start(t, 2, replicaset.New, deployment.New)
	c, ctx := cl.Client, t.Context()
	ns := workloadtest.Namespace(t, c, "kubectl")
	kubectl := func(args ...string) string {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, kubectlPath, append([]string{"--kubeconfig", cl.CP.Kubeconfig, "-n", ns}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	status := func() {
		t.Helper()
		out := kubectl("rollout", "status", "deployment/web", "--timeout=60s")
		if !strings.Contains(out, `deployment "web" successfully rolled out`) {
			t.Fatalf("rollout status: %q", out)
		}
	}
	image := func() string {
		t.Helper()
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].Image
	}

	if _, err := c.AppsV1().Deployments(ns).Create(ctx, newDeployment("web", 3, "app:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	status()

	kubectl("set", "image", "deployment/web", "c=app:v2")
	status()
	if imgs := images(t, c, ns); imgs["app:v2"] != 3 || len(imgs) != 1 {
		t.Fatalf("after set image: %v", imgs)
	}
	if out := kubectl("rollout", "history", "deployment/web"); !strings.Contains(out, "1 ") || !strings.Contains(out, "2 ") {
		t.Fatalf("rollout history: %q", out)
	}

	kubectl("rollout", "undo", "deployment/web")
	status()
	if got := image(); got != "app:v1" {
		t.Fatalf("after undo the template runs %s", got)
	}
	if imgs := images(t, c, ns); imgs["app:v1"] != 3 || len(imgs) != 1 {
		t.Fatalf("after undo: %v", imgs)
	}

	kubectl("rollout", "pause", "deployment/web")
	kubectl("set", "image", "deployment/web", "c=app:v3")
	time.Sleep(time.Second)
	if imgs := images(t, c, ns); imgs["app:v1"] != 3 || len(imgs) != 1 {
		t.Fatalf("a paused deployment rolled out: %v", imgs)
	}
	kubectl("rollout", "resume", "deployment/web")
	status()
	if imgs := images(t, c, ns); imgs["app:v3"] != 3 || len(imgs) != 1 {
		t.Fatalf("after resume: %v", imgs)
	}

	before := images(t, c, ns)
	kubectl("rollout", "restart", "deployment/web")
	status()
	d, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]; !ok {
		t.Fatalf("restart did not annotate the template: %v", d.Spec.Template.Annotations)
	}
	rss := ownedReplicaSets(t, c, d)
	if rs := rss[d.Annotations[deployment.RevisionAnnotation]]; rs == nil || rs.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
		t.Fatalf("no replica set for the restarted template (revisions %v)", rss)
	}
	if after := images(t, c, ns); after["app:v3"] != before["app:v3"] {
		t.Fatalf("restart changed the pod count: %v -> %v", before, after)
	}
}
