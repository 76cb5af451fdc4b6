package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubectl runs the real kubectl (KUBECTL, else kubectl on PATH) against
// the documents, with a stand-in for discovery and for one Deployment.
func TestKubectl(t *testing.T) {
	kubectl := os.Getenv("KUBECTL")
	if kubectl == "" {
		var err error
		if kubectl, err = exec.LookPath("kubectl"); err != nil {
			t.Skip("no kubectl on PATH")
		}
	}
	srv, requests := newKubectlTestServer(t)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	config := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: " + srv.URL + "}}]\n" +
		"contexts: [{name: c, context: {cluster: c}}]\ncurrent-context: c\n"
	if err := os.WriteFile(kubeconfig, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, "deployment.yaml")
	if err := os.WriteFile(manifest, []byte(appliedDeployment), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		// want are substrings of the output; wantRequests of the requests
		// the server saw ("METHOD path?query [Content-Type] body"), and
		// noRequests substrings of none.
		want, wantRequests, noRequests []string
	}{
		{
			name:         "explain uses v3",
			args:         []string{"explain", "pod.spec.containers"},
			want:         []string{"KIND:       Pod", "FIELD: containers <[]Container>", "imagePullPolicy\t<string>"},
			wantRequests: []string{"GET /openapi/v3", "GET /openapi/v3/api/v1?hash="},
		},
		{
			name:         "explain a group",
			args:         []string{"explain", "deployments.spec.strategy"},
			want:         []string{"GROUP:      apps", "FIELD: strategy <DeploymentStrategy>"},
			wantRequests: []string{"GET /openapi/v3/apis/apps/v1?hash="},
		},
		{
			name:         "explain v2",
			args:         []string{"explain", "pods.spec.containers", "--output=plaintext-openapiv2"},
			want:         []string{"RESOURCE: containers <[]Object>"},
			wantRequests: []string{"GET /openapi/v2"},
		},
		{
			// kubectl sends fieldValidation=Strict either way; finding the
			// parameter on PATCH in v3 is what makes it leave validation to
			// the server instead of fetching v2 to validate itself. The
			// patch is strategic, computed from v3, containers merged by name.
			name: "apply",
			args: []string{"apply", "-f", manifest},
			want: []string{"deployment.apps/web configured"},
			wantRequests: []string{
				"PATCH /apis/apps/v1/namespaces/default/deployments/web?fieldManager=kubectl-client-side-apply&fieldValidation=Strict [application/strategic-merge-patch+json]",
				`"$setElementOrder/containers":[{"name":"web"}]`,
			},
			noRequests: []string{"GET /openapi/v2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requests.reset()
			args := append(tt.args, "--kubeconfig="+kubeconfig, "--cache-dir="+filepath.Join(dir, "cache-"+strings.ReplaceAll(tt.name, " ", "-")))
			cmd := exec.CommandContext(t.Context(), kubectl, args...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			seen := requests.String()
			for _, w := range tt.wantRequests {
				if !strings.Contains(seen, w) {
					t.Errorf("no request with %q; saw:\n%s", w, seen)
				}
			}
			for _, n := range tt.noRequests {
				if strings.Contains(seen, n) {
					t.Errorf("unexpected request with %q; saw:\n%s", n, seen)
				}
			}
		})
	}
}

// appliedDeployment is what kubectl applies; the server's copy was last
// applied with a second container, which the patch must delete by name.
const appliedDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
`

const serverDeployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},` +
	`"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},` +
	`"spec":{"containers":[{"name":"web","image":"nginx:1"},{"name":"side","image":"busybox"}]}}}}`

// requestLog records the requests a test server saw.
type requestLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *requestLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = nil
}

func (l *requestLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// newKubectlTestServer serves the documents, legacy discovery for
// testResources, /version (1.33: gcloud's kubectl dispatcher picks the
// kubectl release matching the server's minor version) and the Deployment
// default/web.
func newKubectlTestServer(t *testing.T) (*httptest.Server, *requestLog) {
	t.Helper()
	mux := http.NewServeMux()
	if err := Install(mux, testResources()); err != nil {
		t.Fatal(err)
	}
	serveJSON := func(path string, v any) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		})
	}
	serveJSON("/version", map[string]string{"major": "1", "minor": "33", "gitVersion": "v1.33.0"})
	serveJSON("/api", metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}})
	groups := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	lists := map[string]*metav1.APIResourceList{}
	for _, r := range testResources() {
		gv := r.GroupVersion.String()
		list, ok := lists[gv]
		if !ok {
			list = &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv}
			lists[gv] = list
			serveJSON("/"+gvPath(r.GroupVersion), list)
			if r.GroupVersion.Group != "" {
				v := metav1.GroupVersionForDiscovery{GroupVersion: gv, Version: r.GroupVersion.Version}
				groups.Groups = append(groups.Groups, metav1.APIGroup{Name: r.GroupVersion.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
			}
		}
		if !strings.Contains(r.Name, "/") {
			list.APIResources = append(list.APIResources, metav1.APIResource{Name: r.Name, Kind: r.Kind, Namespaced: r.Namespaced, Verbs: metav1.Verbs(allVerbs)})
		}
	}
	serveJSON("/apis", groups)

	var deployment map[string]any
	if err := json.Unmarshal([]byte(serverDeployment), &deployment); err != nil {
		t.Fatal(err)
	}
	deployment["metadata"].(map[string]any)["annotations"] = map[string]any{"kubectl.kubernetes.io/last-applied-configuration": serverDeployment}
	serveJSON("/apis/apps/v1/namespaces/default/deployments/web", deployment)

	log := &requestLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line := r.Method + " " + r.URL.RequestURI()
		if r.Method == http.MethodPatch {
			body, _ := io.ReadAll(r.Body)
			line += " [" + r.Header.Get("Content-Type") + "] " + string(body)
		}
		log.add(line)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, log
}
