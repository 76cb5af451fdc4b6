package local_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// workloads are a Job and a DaemonSet for `kubelab local --hollow-nodes`:
// the hollow kubelets end the job's containers with exit code 0 after a
// second.
const workloads = `apiVersion: batch/v1
kind: Job
metadata:
  name: batch
spec:
  completions: 3
  parallelism: 2
  template:
    metadata:
      annotations:
        hollow.kubelab.dev/exit-code: "0"
        hollow.kubelab.dev/run-seconds: "1"
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: registry.example/work:1
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      containers:
      - name: agent
        image: registry.example/agent:1
`

// TestKubectlHollowCluster drives the real kubectl against `kubelab local
// --hollow-nodes 3`: three Ready nodes, a Deployment rolled out, updated
// and undone (`kubectl rollout status` and `undo`), a Job completed and a
// DaemonSet spread over the three nodes, with no status written by
// anything but the scheduler, the controllers and the hollow kubelets.
func TestKubectlHollowCluster(t *testing.T) {
	if _, err := os.Stat(kubectlPath); err != nil {
		t.Skipf("the real kubectl is needed: %s is missing", kubectlPath)
	}
	bin := buildKubelab(t)
	p := startLocalArgs(t, bin, "--data-dir", t.TempDir(), "--port", "0", "--hollow-nodes", "3")
	k := &kubectl{kubeconfig: p.Kubeconfig, cacheDir: filepath.Join(t.TempDir(), "cache")}
	manifest := filepath.Join(t.TempDir(), "workloads.yaml")
	if err := os.WriteFile(manifest, []byte(workloads), 0o600); err != nil {
		t.Fatal(err)
	}
	const rolloutTimeout = "--timeout=60s"

	t.Run("3 ready nodes", func(t *testing.T) {
		k.ok(t, "wait", "--for=condition=Ready", "node", "--all", rolloutTimeout)
		out := k.ok(t, "get", "nodes")
		matchAll(t, "kubectl get nodes", out, []string{
			`(?m)^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION$`,
			`(?m)^hollow-node-0\s+Ready\s+<none>\s+\S+\s+v1\.37\.2-kubelab$`,
			`(?m)^hollow-node-1\s+Ready\s+<none>\s+\S+\s+v1\.37\.2-kubelab$`,
			`(?m)^hollow-node-2\s+Ready\s+<none>\s+\S+\s+v1\.37\.2-kubelab$`,
		})
		if n := strings.Count(strings.TrimSpace(out), "\n"); n != 3 {
			t.Errorf("kubectl get nodes lists %d nodes, want 3:\n%s", n, out)
		}
	})

	t.Run("deployment rollout, update and undo", func(t *testing.T) {
		matchAll(t, "kubectl create deployment", k.ok(t, "create", "deployment", "x", "--image=registry.example/x:1", "--replicas=3"),
			[]string{`^deployment\.apps/x created\n$`})
		matchAll(t, "kubectl rollout status", k.ok(t, "rollout", "status", "deployment/x", rolloutTimeout),
			[]string{`(?m)^deployment "x" successfully rolled out$`})
		matchAll(t, "kubectl get deployment", k.ok(t, "get", "deployment", "x"), []string{`(?m)^x\s+3/3\s+3\s+3\s+\S+$`})

		matchAll(t, "kubectl set image", k.ok(t, "set", "image", "deployment/x", "x=registry.example/x:2"),
			[]string{`^deployment\.apps/x image updated\n$`})
		matchAll(t, "kubectl rollout status", k.ok(t, "rollout", "status", "deployment/x", rolloutTimeout),
			[]string{`(?m)^deployment "x" successfully rolled out$`})
		matchAll(t, "kubectl rollout history", k.ok(t, "rollout", "history", "deployment/x"),
			[]string{`(?m)^REVISION\s+CHANGE-CAUSE$`, `(?m)^1\s+<none>$`, `(?m)^2\s+<none>$`})

		matchAll(t, "kubectl rollout undo", k.ok(t, "rollout", "undo", "deployment/x"), []string{`^deployment\.apps/x rolled back\n$`})
		matchAll(t, "kubectl rollout status", k.ok(t, "rollout", "status", "deployment/x", rolloutTimeout),
			[]string{`(?m)^deployment "x" successfully rolled out$`})
		if got := k.jsonpath(t, `{.spec.template.spec.containers[0].image} {.metadata.annotations.deployment\.kubernetes\.io/revision}`, "deployment", "x"); got != "registry.example/x:1 3" {
			t.Errorf("after undo: image and revision %q, want %q", got, "registry.example/x:1 3")
		}
		// Only the pods of the first template run.
		waitKubectl(t, k, "3 running x:1 pods", []string{"get", "pods", "-l", "app=x", "--field-selector=status.phase=Running",
			"-o", `jsonpath={range .items[*]}{.spec.containers[0].image}{"\n"}{end}`},
			func(out string) bool { return out == strings.Repeat("registry.example/x:1\n", 3) })
	})

	matchAll(t, "kubectl apply", k.ok(t, "apply", "-f", manifest), []string{`(?m)^job\.batch/batch created$`, `(?m)^daemonset\.apps/agent created$`})

	t.Run("job completes", func(t *testing.T) {
		matchAll(t, "kubectl wait", k.ok(t, "wait", "--for=condition=Complete", "job/batch", rolloutTimeout),
			[]string{`^job\.batch/batch condition met\n$`})
		matchAll(t, "kubectl get job", k.ok(t, "get", "job", "batch"), []string{`(?m)^batch\s+Complete\s+3/3\s+\S+\s+\S+$`})
		if got := k.jsonpath(t, `{.status.succeeded} {.status.failed}`, "job", "batch"); got != "3 " {
			t.Errorf("job succeeded and failed %q, want %q", got, "3 ")
		}
	})

	t.Run("daemonset spreads over the nodes", func(t *testing.T) {
		matchAll(t, "kubectl rollout status", k.ok(t, "rollout", "status", "daemonset/agent", rolloutTimeout),
			[]string{`(?m)^daemon set "agent" successfully rolled out$`})
		matchAll(t, "kubectl get daemonset", k.ok(t, "get", "daemonset", "agent"),
			[]string{`(?m)^agent\s+3\s+3\s+3\s+3\s+3\s+<none>\s+\S+$`})
		out := k.jsonpath(t, `{range .items[*]}{.spec.nodeName} {.status.phase}{"\n"}{end}`, "pods", "-l", "app=agent")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		slices.Sort(lines)
		want := []string{"hollow-node-0 Running", "hollow-node-1 Running", "hollow-node-2 Running"}
		if !slices.Equal(lines, want) {
			t.Errorf("daemon pods on %q, want %q", lines, want)
		}
	})
	p.stop(t)
}

// waitKubectl runs kubectl until ok accepts its output, for up to 30s.
func waitKubectl(t *testing.T, k *kubectl, what string, args []string, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := k.ok(t, args...)
		if ok(out) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: kubectl %s printed:\n%s", what, strings.Join(args, " "), out)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startLocalArgs starts `kubelab local` with args and waits for its ready
// line (startLocal with a choice of flags).
func startLocalArgs(t *testing.T, bin string, args ...string) *localProcess {
	t.Helper()
	p, stdout := startProcess(t, bin, args...)
	ready := make(chan []string, 1)
	go func() {
		defer close(ready)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m
				break
			}
		}
		// Keep draining stdout so the process never blocks on it.
		for sc.Scan() {
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	select {
	case m, ok := <-ready:
		if !ok {
			p.wait()
			<-p.done
			t.Fatalf("kubelab local %s exited before it was ready (%v); stderr:\n%s", strings.Join(args, " "), p.err, p.stderr)
		}
		p.Server, p.Kubeconfig = m[1], m[2]
	case <-ctx.Done():
		t.Fatalf("kubelab local %s printed no ready line within 90s; stderr:\n%s", strings.Join(args, " "), p.stderr)
	}
	p.wait()
	return p
}
