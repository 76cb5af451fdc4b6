package openapi

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

var (
	coreV1        = schema.GroupVersion{Version: "v1"}
	appsV1        = schema.GroupVersion{Group: "apps", Version: "v1"}
	batchV1       = schema.GroupVersion{Group: "batch", Version: "v1"}
	coordV1       = schema.GroupVersion{Group: "coordination.k8s.io", Version: "v1"}
	discoveryV1   = schema.GroupVersion{Group: "discovery.k8s.io", Version: "v1"}
	eventsV1      = schema.GroupVersion{Group: "events.k8s.io", Version: "v1"}
	autoscalingV1 = schema.GroupVersion{Group: "autoscaling", Version: "v1"}
	policyV1      = schema.GroupVersion{Group: "policy", Version: "v1"}
)

// testResources is roughly what the API server serves.
func testResources() []Resource {
	return []Resource{
		{GroupVersion: coreV1, Name: "pods", Kind: "Pod", Namespaced: true, Subresources: []string{
			"status", "binding", "eviction", "log", "exec", "attach", "portforward", "proxy", "ephemeralcontainers", "resize"}},
		{GroupVersion: coreV1, Name: "nodes", Kind: "Node", Subresources: []string{"status", "proxy"}},
		{GroupVersion: coreV1, Name: "namespaces", Kind: "Namespace", Subresources: []string{"status", "finalize"}},
		{GroupVersion: coreV1, Name: "services", Kind: "Service", Namespaced: true, Subresources: []string{"status", "proxy"}},
		{GroupVersion: coreV1, Name: "serviceaccounts", Kind: "ServiceAccount", Namespaced: true, Subresources: []string{"token"}},
		{GroupVersion: coreV1, Name: "bindings", Kind: "Binding", Namespaced: true},
		{GroupVersion: coreV1, Name: "configmaps", Kind: "ConfigMap", Namespaced: true},
		{GroupVersion: coreV1, Name: "secrets", Kind: "Secret", Namespaced: true},
		{GroupVersion: coreV1, Name: "endpoints", Kind: "Endpoints", Namespaced: true},
		{GroupVersion: coreV1, Name: "events", Kind: "Event", Namespaced: true},
		{GroupVersion: coreV1, Name: "replicationcontrollers", Kind: "ReplicationController", Namespaced: true},
		{GroupVersion: coreV1, Name: "replicationcontrollers/status"},
		{GroupVersion: coreV1, Name: "replicationcontrollers/scale", Kind: "Scale"},
		{GroupVersion: coreV1, Name: "persistentvolumes", Kind: "PersistentVolume", Subresources: []string{"status"}},
		{GroupVersion: coreV1, Name: "persistentvolumeclaims", Kind: "PersistentVolumeClaim", Namespaced: true, Subresources: []string{"status"}},
		{GroupVersion: coreV1, Name: "resourcequotas", Kind: "ResourceQuota", Namespaced: true, Subresources: []string{"status"}},
		{GroupVersion: coreV1, Name: "limitranges", Kind: "LimitRange", Namespaced: true},
		{GroupVersion: coreV1, Name: "componentstatuses", Kind: "ComponentStatus"},
		{GroupVersion: appsV1, Name: "deployments", Kind: "Deployment", Namespaced: true, Subresources: []string{"status", "scale"}},
		{GroupVersion: appsV1, Name: "replicasets", Kind: "ReplicaSet", Namespaced: true, Subresources: []string{"status", "scale"}},
		{GroupVersion: appsV1, Name: "statefulsets", Kind: "StatefulSet", Namespaced: true, Subresources: []string{"status", "scale"}},
		{GroupVersion: appsV1, Name: "daemonsets", Kind: "DaemonSet", Namespaced: true, Subresources: []string{"status"}},
		{GroupVersion: appsV1, Name: "controllerrevisions", Kind: "ControllerRevision", Namespaced: true},
		{GroupVersion: batchV1, Name: "jobs", Kind: "Job", Namespaced: true, Subresources: []string{"status"}},
		{GroupVersion: batchV1, Name: "cronjobs", Kind: "CronJob", Namespaced: true, Subresources: []string{"status"}},
		{GroupVersion: coordV1, Name: "leases", Kind: "Lease", Namespaced: true},
		{GroupVersion: discoveryV1, Name: "endpointslices", Kind: "EndpointSlice", Namespaced: true},
		{GroupVersion: eventsV1, Name: "events", Kind: "Event", Namespaced: true},
		{GroupVersion: autoscalingV1, Name: "horizontalpodautoscalers", Kind: "HorizontalPodAutoscaler", Namespaced: true, Subresources: []string{"status"}},
		{GroupVersion: policyV1, Name: "poddisruptionbudgets", Kind: "PodDisruptionBudget", Namespaced: true, Subresources: []string{"status"}},
	}
}

// newTestServer serves testResources' documents.
func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	if err := Install(mux, testResources()); err != nil {
		t.Fatalf("Install: %v", err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// get fetches path with the given Accept header (and no redirects).
func get(t *testing.T, srv *httptest.Server, path, accept string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp, body
}

func TestInstallRejects(t *testing.T) {
	tests := []struct {
		name      string
		resources []Resource
		want      string
	}{
		{"unknown kind", []Resource{{GroupVersion: coreV1, Name: "widgets", Kind: "Widget"}}, "no Go type for /v1, Kind=Widget"},
		{"kind without definitions", []Resource{{GroupVersion: schema.GroupVersion{Group: "rbac.authorization.k8s.io", Version: "v1"}, Name: "roles", Kind: "Role", Namespaced: true}},
			"hack/update-openapi.sh): cannot find model definition for io.k8s.api.rbac.v1.Role"},
		{"unknown subresource", []Resource{{GroupVersion: coreV1, Name: "pods", Kind: "Pod", Namespaced: true, Subresources: []string{"frobnicate"}}}, "subresource pods/frobnicate: unknown"},
		{"subresource without parent", []Resource{{GroupVersion: coreV1, Name: "pods/status"}}, `parent "pods" not listed`},
		{"missing kind", []Resource{{GroupVersion: coreV1, Name: "pods"}}, "kind is required"},
		{"missing version", []Resource{{Name: "pods", Kind: "Pod"}}, "name and version are required"},
		{"listed twice", []Resource{{GroupVersion: coreV1, Name: "pods", Kind: "Pod"}, {GroupVersion: coreV1, Name: "pods", Kind: "Pod"}}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Install(http.NewServeMux(), tt.resources)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Install() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	t.Run("twice on one mux", func(t *testing.T) {
		mux := http.NewServeMux()
		if err := Install(mux, testResources()); err != nil {
			t.Fatalf("first Install: %v", err)
		}
		if err := Install(mux, testResources()); err == nil || !strings.Contains(err.Error(), "register /openapi/v2") {
			t.Fatalf("second Install() error = %v, want a registration error", err)
		}
	})
}

func TestV2(t *testing.T) {
	srv := newTestServer(t)
	tests := []struct {
		name, accept, wantType string
		parse                  func(t *testing.T, body []byte) (podGVK, mergeKey string)
	}{
		{"json", "application/json", "application/json", parseV2JSON},
		{"protobuf", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", parseV2Proto},
		{"protobuf new name", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", parseV2Proto},
		{"any", "*/*", "application/json", parseV2JSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, srv, "/openapi/v2", tt.accept)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tt.wantType {
				t.Fatalf("status %d, Content-Type %q; want 200, %q", resp.StatusCode, resp.Header.Get("Content-Type"), tt.wantType)
			}
			etag := resp.Header.Get("Etag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			if gvk, key := tt.parse(t, body); gvk != "/v1, Kind=Pod" || key != "name" {
				t.Errorf("Pod GVK %q, containers patch merge key %q; want /v1, Kind=Pod and name", gvk, key)
			}
			if resp, _ := get(t, srv, "/openapi/v2", tt.accept, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match: status %d, want 304", resp.StatusCode)
			}
		})
	}
	if resp, _ := get(t, srv, "/openapi/v2", "text/html"); resp.StatusCode != http.StatusNotAcceptable {
		t.Errorf("Accept text/html: status %d, want 406", resp.StatusCode)
	}
}

func parseV2JSON(t *testing.T, body []byte) (string, string) {
	t.Helper()
	var doc spec.Swagger
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("parse v2 JSON: %v", err)
	}
	pod, ok := doc.Definitions["io.k8s.api.core.v1.Pod"]
	if !ok {
		t.Fatal("no io.k8s.api.core.v1.Pod definition")
	}
	var gvks []map[string]string
	if err := pod.Extensions.GetObject(extensionGVK, &gvks); err != nil || len(gvks) != 1 {
		t.Fatalf("Pod %s = %v (%v), want one GVK", extensionGVK, pod.Extensions[extensionGVK], err)
	}
	gvk := schema.GroupVersionKind{Group: gvks[0]["group"], Version: gvks[0]["version"], Kind: gvks[0]["kind"]}
	key, _ := doc.Definitions["io.k8s.api.core.v1.PodSpec"].Properties["containers"].Extensions.GetString("x-kubernetes-patch-merge-key")
	return gvk.String(), key
}

func parseV2Proto(t *testing.T, body []byte) (string, string) {
	t.Helper()
	var doc openapi_v2.Document
	if err := proto.Unmarshal(body, &doc); err != nil {
		t.Fatalf("parse v2 protobuf: %v", err)
	}
	var gvk, key string
	for _, def := range doc.GetDefinitions().GetAdditionalProperties() {
		switch def.GetName() {
		case "io.k8s.api.core.v1.Pod":
			for _, ext := range def.GetValue().GetVendorExtension() {
				if ext.GetName() == extensionGVK {
					gvk = strings.Join(strings.Fields(ext.GetValue().GetYaml()), " ")
				}
			}
		case "io.k8s.api.core.v1.PodSpec":
			for _, prop := range def.GetValue().GetProperties().GetAdditionalProperties() {
				if prop.GetName() != "containers" {
					continue
				}
				for _, ext := range prop.GetValue().GetVendorExtension() {
					if ext.GetName() == "x-kubernetes-patch-merge-key" {
						key = strings.TrimSpace(ext.GetValue().GetYaml())
					}
				}
			}
		}
	}
	if gvk != "- group: \"\" kind: Pod version: v1" {
		t.Fatalf("Pod %s YAML = %q", extensionGVK, gvk)
	}
	return "/v1, Kind=Pod", key
}

func TestV3(t *testing.T) {
	srv := newTestServer(t)
	resp, body := get(t, srv, "/openapi/v3", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi/v3: status %d", resp.StatusCode)
	}
	var index handler3.OpenAPIV3Discovery
	if err := json.Unmarshal(body, &index); err != nil {
		t.Fatalf("parse index: %v", err)
	}
	if len(index.Paths) != 8 {
		t.Errorf("index lists %d group versions, want 8: %v", len(index.Paths), index.Paths)
	}
	for _, gv := range []string{"api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1"} {
		t.Run(gv, func(t *testing.T) {
			url := index.Paths[gv].ServerRelativeURL
			if !strings.HasPrefix(url, "/openapi/v3/"+gv+"?hash=") {
				t.Fatalf("serverRelativeURL %q, want /openapi/v3/%s?hash=...", url, gv)
			}
			resp, body := get(t, srv, url, "application/json")
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
				t.Fatalf("GET %s: status %d, Cache-Control %q", url, resp.StatusCode, resp.Header.Get("Cache-Control"))
			}
			if !json.Valid(body) {
				t.Fatalf("GET %s: not JSON", url)
			}
			resp, _ = get(t, srv, "/openapi/v3/"+gv+"?hash=stale", "application/json")
			if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != url {
				t.Errorf("stale hash: status %d Location %q, want 301 to %s", resp.StatusCode, resp.Header.Get("Location"), url)
			}
			resp, body = get(t, srv, url, "application/json", "Accept-Encoding", "gzip")
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("Accept-Encoding gzip: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
			}
			zr, err := gzip.NewReader(strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			if plain, err := io.ReadAll(zr); err != nil || !json.Valid(plain) {
				t.Errorf("gzipped document does not decompress to JSON: %v", err)
			}
		})
	}
	for _, path := range []string{"/openapi/v3/apis/rbac.authorization.k8s.io/v1", "/openapi/v3/", "/openapi/v3/apis/apps"} {
		if resp, _ := get(t, srv, path, "application/json"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestInstallCost logs what Install and the first requests cost, and the
// documents' sizes. Install runs on every API server start.
func TestInstallCost(t *testing.T) {
	namerForClientGoScheme() // built once per process; measured below on its own
	start := time.Now()
	mux := http.NewServeMux()
	if err := Install(mux, testResources()); err != nil {
		t.Fatal(err)
	}
	install := time.Since(start)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var sizes []string
	first := time.Now()
	for _, accept := range []string{"application/json", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"} {
		_, body := get(t, srv, "/openapi/v2", accept)
		format := "json"
		if strings.HasSuffix(accept, "protobuf") {
			format = "protobuf"
		}
		sizes = append(sizes, "v2("+format+")="+kib(len(body)))
	}
	v2First := time.Since(first)
	first = time.Now()
	_, body := get(t, srv, "/openapi/v3", "")
	v3First := time.Since(first)
	var index handler3.OpenAPIV3Discovery
	if err := json.Unmarshal(body, &index); err != nil {
		t.Fatal(err)
	}
	for _, gv := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/policy/v1"} {
		_, body := get(t, srv, index.Paths[gv].ServerRelativeURL, "")
		sizes = append(sizes, gv+"="+kib(len(body)))
	}
	t.Logf("Install %v; first GET /openapi/v2 (json+proto) %v; first GET /openapi/v3 (marshals every group version) %v; sizes %s",
		install.Round(time.Millisecond), v2First.Round(time.Millisecond), v3First.Round(time.Millisecond), strings.Join(sizes, " "))
	if install > time.Second {
		t.Errorf("Install took %v; it runs on every API server start and should take well under a second", install)
	}
}

func kib(n int) string { return fmt.Sprintf("%dKiB", n/1024) }
