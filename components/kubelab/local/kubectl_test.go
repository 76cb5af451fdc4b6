package local_test

import (
	"bufio"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// manifest is one multi-document file applied, re-applied and deleted.
const manifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: registry.example/web:1.0
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: demo
data:
  color: blue
`

// heldConfigMap carries a finalizer nothing removes until the test does.
const heldConfigMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: held
  finalizers: [example.com/hold]
data:
  a: b
`

// editor is a KUBE_EDITOR that scales the edited deployment to 3.
const editor = "#!/bin/sh\nsed -i 's/^  replicas: 5$/  replicas: 3/' \"$1\"\n"

// kubectlStep is one kubectl invocation and what it must print and do.
type kubectlStep struct {
	name string
	args []string
	env  []string
	// stdin is kubectl's standard input.
	stdin string
	// wantErr expects a non-zero exit; want are regexps matched against
	// stdout (stdout and stderr when wantErr).
	wantErr bool
	want    []string
	// check verifies the step's effect.
	check func(t *testing.T, k *kubectl)
	// run replaces the invocation for steps that need more than one.
	run func(t *testing.T, k *kubectl)
}

func (s kubectlStep) exec(t *testing.T, k *kubectl) {
	t.Helper()
	if s.run != nil {
		s.run(t, k)
		return
	}
	stdout, stderr, err := k.runInput(t.Context(), s.env, s.stdin, s.args...)
	switch {
	case s.wantErr && err == nil:
		t.Fatalf("kubectl %s succeeded, want an error; stdout:\n%s", strings.Join(s.args, " "), stdout)
	case !s.wantErr && err != nil:
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(s.args, " "), err, stdout, stderr)
	}
	out := stdout
	if s.wantErr {
		out += stderr
	}
	matchAll(t, "kubectl "+strings.Join(s.args, " "), out, s.want)
	if s.check != nil {
		s.check(t, k)
	}
}

// equals returns a check that a jsonpath of an object is want.
func equals(path, want string, args ...string) func(*testing.T, *kubectl) {
	return func(t *testing.T, k *kubectl) {
		t.Helper()
		if got := k.jsonpath(t, path, args...); got != want {
			t.Errorf("kubectl get %s -o jsonpath=%s = %q, want %q", strings.Join(args, " "), path, got, want)
		}
	}
}

// TestKubectl drives the real kubectl through a user's session against a
// `kubelab local` process built from this module: discovery, apply (client
// and server side), output formats, every patch type, edit, watch, explain,
// deletion, then an interrupt and a restart on the same data.
func TestKubectl(t *testing.T) {
	if _, err := os.Stat(kubectlPath); err != nil {
		t.Skipf("the real kubectl is needed: %s is missing", kubectlPath)
	}
	bin := buildKubelab(t)
	dataDir := t.TempDir()
	p := startLocal(t, bin, dataDir)
	k := &kubectl{kubeconfig: p.Kubeconfig, cacheDir: filepath.Join(t.TempDir(), "cache")}

	files := t.TempDir()
	manifestPath := filepath.Join(files, "app.yaml")
	editorPath := filepath.Join(files, "editor.sh")
	if err := os.WriteFile(manifestPath, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(editorPath, []byte(editor), 0o700); err != nil {
		t.Fatal(err)
	}
	deploy := []string{"-n", "demo", "deployment", "web"}

	steps := []kubectlStep{
		{name: "version", args: []string{"version"}, want: []string{`Server Version: v1\.\d+\.\d+`}},
		{
			name: "api-resources", args: []string{"api-resources"},
			want: []string{
				`(?m)^pods\s+po\s+v1\s+true\s+Pod$`,
				`(?m)^deployments\s+deploy\s+apps/v1\s+true\s+Deployment$`,
				`(?m)^leases\s+coordination\.k8s\.io/v1\s+true\s+Lease$`,
				`(?m)^namespaces\s+ns\s+v1\s+false\s+Namespace$`,
			},
		},
		{name: "create namespace", args: []string{"create", "namespace", "demo"}, want: []string{`^namespace/demo created\n$`}},
		{
			name: "apply", args: []string{"apply", "-f", manifestPath},
			want: []string{`(?m)^deployment\.apps/web created$`, `(?m)^service/web created$`, `(?m)^configmap/web-config created$`},
		},
		{
			name: "apply again", args: []string{"apply", "-f", manifestPath},
			want: []string{`(?m)^deployment\.apps/web unchanged$`, `(?m)^service/web unchanged$`, `(?m)^configmap/web-config unchanged$`},
		},
		{
			name: "apply server side", args: []string{"apply", "--server-side", "-f", manifestPath},
			want: []string{`(?m)^deployment\.apps/web serverside-applied$`, `(?m)^service/web serverside-applied$`, `(?m)^configmap/web-config serverside-applied$`},
		},
		{
			name: "get wide", args: []string{"-n", "demo", "get", "deployments,services", "-o", "wide"},
			want: []string{
				`NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR`,
				`deployment\.apps/web\s+\d+/2\s+\d+\s+\d+\s+\S+\s+web\s+registry\.example/web:1\.0\s+app=web`,
				`NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s+SELECTOR`,
				`service/web\s+ClusterIP\s+\d+\.\d+\.\d+\.\d+\s+<none>\s+80/TCP\s+\S+\s+app=web`,
			},
		},
		{
			name: "get yaml", args: []string{"get", "-o", "yaml", "-n", "demo", "deployment/web", "service/web"},
			want: []string{
				`(?m)^    progressDeadlineSeconds: 600$`, `(?m)^    revisionHistoryLimit: 10$`,
				`(?m)^        maxSurge: 25%$`, `(?m)^      type: RollingUpdate$`,
				`(?m)^          imagePullPolicy: IfNotPresent$`, `(?m)^          terminationMessagePath: /dev/termination-log$`,
				`(?m)^            protocol: TCP$`, `(?m)^        restartPolicy: Always$`, `(?m)^        dnsPolicy: ClusterFirst$`,
				`(?m)^        schedulerName: default-scheduler$`, `(?m)^        terminationGracePeriodSeconds: 30$`,
				`(?m)^    clusterIP: \d+\.\d+\.\d+\.\d+$`, `(?m)^    sessionAffinity: None$`, `(?m)^    type: ClusterIP$`,
				`(?m)^    - IPv4$`, `(?m)^      targetPort: 8080$`,
			},
		},
		{
			name: "patch json",
			args: []string{"-n", "demo", "patch", "deployment", "web", "--type=json", "-p",
				`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"registry.example/web:2.0"}]`},
			want:  []string{`^deployment\.apps/web patched\n$`},
			check: equals(`{.spec.template.spec.containers[0].image}`, "registry.example/web:2.0", deploy...),
		},
		{
			name: "patch json failing test",
			args: []string{"-n", "demo", "patch", "deployment", "web", "--type=json", "-p",
				`[{"op":"test","path":"/spec/replicas","value":99},{"op":"replace","path":"/spec/replicas","value":7}]`},
			wantErr: true,
			want:    []string{`(?i)test`},
			check:   equals(`{.spec.replicas}`, "2", deploy...),
		},
		{
			name:  "patch merge",
			args:  []string{"-n", "demo", "patch", "configmap", "web-config", "--type=merge", "-p", `{"data":{"color":"green","size":"L"}}`},
			want:  []string{`^configmap/web-config patched\n$`},
			check: equals(`{.data.color},{.data.size}`, "green,L", "-n", "demo", "configmap", "web-config"),
		},
		{
			// A strategic merge patch merges containers by name; a merge
			// patch would replace the list.
			name: "patch strategic",
			args: []string{"-n", "demo", "patch", "deployment", "web", "--type=strategic", "-p",
				`{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"registry.example/sidecar:1"}]}}}}`},
			want: []string{`^deployment\.apps/web patched\n$`},
			check: equals(`{.spec.template.spec.containers[?(@.name=="web")].image},{.spec.template.spec.containers[?(@.name=="sidecar")].image}`,
				"registry.example/web:2.0,registry.example/sidecar:1", deploy...),
		},
		{
			// A merge key whose value is a list panics in the patch
			// library; the server answers 400, not 500.
			name: "patch strategic malformed",
			args: []string{"-n", "demo", "patch", "deployment", "web", "--type=strategic", "-p",
				`{"spec":{"template":{"spec":{"containers":[{"name":[]}]}}}}`},
			wantErr: true,
			want:    []string{`Error from server \(BadRequest\)`},
		},
		{
			name: "label", args: []string{"-n", "demo", "label", "deployment", "web", "tier=frontend"},
			want:  []string{`^deployment\.apps/web labeled\n$`},
			check: equals(`{.metadata.labels.tier},{.metadata.labels.app}`, "frontend,web", deploy...),
		},
		{
			name: "annotate", args: []string{"-n", "demo", "annotate", "deployment", "web", "example.com/owner=team-a"},
			want:  []string{`^deployment\.apps/web annotated\n$`},
			check: equals(`{.metadata.annotations.example\.com/owner}`, "team-a", deploy...),
		},
		{
			name: "scale", args: []string{"-n", "demo", "scale", "deployment", "web", "--replicas=5"},
			want:  []string{`^deployment\.apps/web scaled\n$`},
			check: equals(`{.spec.replicas}`, "5", deploy...),
		},
		{
			name: "edit", args: []string{"-n", "demo", "edit", "deployment", "web"}, env: []string{"KUBE_EDITOR=" + editorPath},
			want:  []string{`^deployment\.apps/web edited\n$`},
			check: equals(`{.spec.replicas}`, "3", deploy...),
		},
		{name: "watch", run: watchSeesChange},
		{
			name: "explain", args: []string{"explain", "pod.spec.containers"},
			want: []string{`KIND:\s+Pod`, `FIELD: containers <\[\]Container>`, `DESCRIPTION:`, `List of containers belonging to the pod`, `imagePullPolicy\s+<string>`},
		},
		{
			// kubectl create sends its body as protobuf.
			name: "create configmap", args: []string{"-n", "demo", "create", "configmap", "created", "--from-literal=key=value"},
			want:  []string{`(?m)^configmap/created created$`},
			check: checkProtobufCreate,
		},
		{
			name: "run", args: []string{"-n", "demo", "run", "pod1", "--image=registry.example/busybox:1", "--restart=Never"},
			want:  []string{`^pod/pod1 created\n$`},
			check: equals(`{.status.phase},{.spec.containers[0].image}`, "Pending,registry.example/busybox:1", "-n", "demo", "pod", "pod1"),
		},
		{
			name: "delete wait", args: []string{"delete", "-f", manifestPath, "--wait", "--timeout=60s"},
			want: []string{`(?m)^deployment\.apps "web" deleted$`, `(?m)^service "web" deleted$`, `(?m)^configmap "web-config" deleted$`},
		},
		{
			name: "deleted objects are gone", args: []string{"-n", "demo", "get", "deployment/web"},
			wantErr: true, want: []string{`NotFound`, `deployments\.apps "web" not found`},
		},
		{
			// A finalizer keeps this object, and so its namespace, while
			// the namespace terminates after the restart.
			name: "create held configmap", args: []string{"-n", "demo", "create", "-f", "-"},
			stdin: heldConfigMap,
			want:  []string{`^configmap/held created\n$`},
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) { s.exec(t, k) })
	}

	port := mustPort(t, p.Server)
	t.Run("second server on the same port", func(t *testing.T) {
		out := runFailing(t, bin, 30*time.Second, "--data-dir", t.TempDir(), "--port", port)
		matchAll(t, "kubelab local on a used port", out, []string{regexp.QuoteMeta("127.0.0.1:" + port), `address already in use`})
	})
	t.Run("second server on the same data dir", func(t *testing.T) {
		out := runFailing(t, bin, 30*time.Second, "--data-dir", dataDir, "--port", "0")
		matchAll(t, "kubelab local on a used data dir", out, []string{regexp.QuoteMeta(dataDir), `in use`})
		// The first server still serves.
		k.ok(t, "get", "namespace", "demo")
	})

	p.stop(t)
	p = startLocal(t, bin, dataDir)
	k.kubeconfig = p.Kubeconfig
	restarted := []kubectlStep{
		{name: "pod survives", args: []string{"-n", "demo", "get", "pod", "pod1"}, want: []string{`pod1\s+0/1\s+Pending`}},
		{name: "configmap survives", args: []string{"-n", "demo", "get", "configmap", "created", "-o", "jsonpath={.data.key}"}, want: []string{`^value$`}},
		{name: "deleted stays deleted", args: []string{"-n", "demo", "get", "deployment/web"}, wantErr: true, want: []string{`NotFound`}},
		{
			name: "delete namespace", args: []string{"delete", "namespace", "demo", "--wait=false"},
			want:  []string{`^namespace "demo" deleted\n$`},
			check: equals(`{.status.phase}`, "Terminating", "namespace", "demo"),
		},
		{
			// The namespace controller empties the namespace except for
			// the held object.
			name: "namespace content deleted", args: []string{"-n", "demo", "wait", "--for=delete", "pod/pod1", "configmap/created", "--timeout=60s"},
			check: equals(`{.status.phase}`, "Terminating", "namespace", "demo"),
		},
		{
			name: "create in a terminating namespace", args: []string{"-n", "demo", "create", "configmap", "late", "--from-literal=a=b"},
			wantErr: true, want: []string{`namespaces "demo" is forbidden: unable to create new content in namespace demo because it is being terminated`},
		},
		{
			name: "release the held object", args: []string{"-n", "demo", "patch", "configmap", "held", "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`},
			want: []string{`^configmap/held patched\n$`},
		},
		{name: "namespace deleted", args: []string{"wait", "--for=delete", "namespace/demo", "--timeout=60s"}},
		{name: "namespace gone", args: []string{"get", "namespace", "demo"}, wantErr: true, want: []string{`NotFound`}},
	}
	for _, s := range restarted {
		t.Run("restarted/"+s.name, func(t *testing.T) { s.exec(t, k) })
	}
	p.stop(t)
}

// watchSeesChange runs kubectl get -w and checks that it prints a change
// made while it watches.
func watchSeesChange(t *testing.T, k *kubectl) {
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlPath, "-n", "demo", "get", "configmaps", "--watch", "--output-watch-events")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig, "KUBECACHEDIR="+k.cacheDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kubectl get --watch: %v", err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	await := func(pattern string) {
		t.Helper()
		re := regexp.MustCompile(pattern)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("kubectl get --watch ended before printing %q; it printed:\n%s\nstderr:\n%s", pattern, strings.Join(seen, "\n"), stderr.String())
				}
				seen = append(seen, line)
				if re.MatchString(line) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("kubectl get --watch printed no line matching %q; it printed:\n%s\nstderr:\n%s", pattern, strings.Join(seen, "\n"), stderr.String())
			}
		}
	}
	await(`^ADDED\s+web-config\s+2\s`)
	k.ok(t, "-n", "demo", "patch", "configmap", "web-config", "--type=merge", "-p", `{"data":{"watched":"yes"}}`)
	await(`^MODIFIED\s+web-config\s+3\s`)
}

// checkProtobufCreate checks that the created object is stored, then in
// kubectl's -v=8 log that a create is a protobuf request.
func checkProtobufCreate(t *testing.T, k *kubectl) {
	t.Helper()
	if got := k.jsonpath(t, `{.data.key}`, "-n", "demo", "configmap", "created"); got != "value" {
		t.Errorf("configmap created has data.key %q, want value", got)
	}
	_, stderr, err := k.run(t.Context(), nil, "-v=8", "-n", "demo", "create", "configmap", "created-proto", "--from-literal=key=value")
	if err != nil {
		t.Fatalf("kubectl create configmap: %v\n%s", err, stderr)
	}
	matchAll(t, "kubectl -v=8 create configmap", stderr, []string{
		`POST https://\S+/api/v1/namespaces/demo/configmaps\?`, `Response Status: 201 Created`,
	})
	_, request, _ := strings.Cut(stderr, "Request Headers:")
	request, _, _ = strings.Cut(request, "Response Status:")
	if !strings.Contains(request, "Content-Type: application/vnd.kubernetes.protobuf") {
		t.Errorf("kubectl create sent no protobuf body; its request headers:%s", request)
	}
}

func mustPort(t *testing.T, server string) string {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("parse server URL %q: %v", server, err)
	}
	return u.Port()
}
