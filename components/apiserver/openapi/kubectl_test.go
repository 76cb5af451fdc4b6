package openapi

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	yaml "go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// These tests read the documents through client-go, the way kubectl does.

func discoveryClient(t *testing.T, srv *httptest.Server) *discovery.DiscoveryClient {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

// TestOpenAPI3Root finds kinds' schemas the way kubectl explain and
// kubectl apply do: openapi3.Root over the discovery client, then the
// schema whose x-kubernetes-group-version-kind lists the kind.
func TestOpenAPI3Root(t *testing.T) {
	root := openapi3.NewRoot(discoveryClient(t, newTestServer(t)).OpenAPIV3())
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatalf("GroupVersions: %v", err)
	}
	if fmt.Sprint(gvs) != "[apps/v1 autoscaling/v1 batch/v1 coordination.k8s.io/v1 discovery.k8s.io/v1 events.k8s.io/v1 policy/v1 v1]" {
		t.Errorf("GroupVersions = %v", gvs)
	}
	// A group version's document holds its own paths and the schemas they
	// reference: Eviction (pods/eviction) is in api/v1's, Scale in apps/v1's.
	tests := []struct {
		gvk  schema.GroupVersionKind
		in   schema.GroupVersion
		want string
	}{
		{coreV1.WithKind("Pod"), coreV1, "io.k8s.api.core.v1.Pod"},
		{coreV1.WithKind("Namespace"), coreV1, "io.k8s.api.core.v1.Namespace"},
		{appsV1.WithKind("Deployment"), appsV1, "io.k8s.api.apps.v1.Deployment"},
		{coordV1.WithKind("Lease"), coordV1, "io.k8s.api.coordination.v1.Lease"},
		{eventsV1.WithKind("Event"), eventsV1, "io.k8s.api.events.v1.Event"},
		{policyV1.WithKind("Eviction"), coreV1, "io.k8s.api.policy.v1.Eviction"},
		{autoscalingV1.WithKind("Scale"), appsV1, "io.k8s.api.autoscaling.v1.Scale"},
		{autoscalingV1.WithKind("HorizontalPodAutoscaler"), autoscalingV1, "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler"},
	}
	for _, tt := range tests {
		t.Run(tt.gvk.Kind, func(t *testing.T) {
			doc, err := root.GVSpec(tt.in)
			if err != nil {
				t.Fatalf("GVSpec(%s): %v", tt.in, err)
			}
			name, s := schemaForGVK(doc, tt.gvk)
			if name != tt.want {
				t.Fatalf("schema for %s = %q, want %q", tt.gvk, name, tt.want)
			}
			if _, ok := s.Properties["metadata"]; !ok {
				t.Errorf("%s has no metadata property", name)
			}
			if tt.in == tt.gvk.GroupVersion() && !patchesStrategically(doc, tt.gvk) {
				t.Errorf("no PATCH for %s consumes application/strategic-merge-patch+json; kubectl apply would fall back", tt.gvk)
			}
		})
	}
}

// schemaForGVK is kubectl apply's lookup (buildStrategicMergePatchFromOpenAPIV3).
func schemaForGVK(doc *spec3.OpenAPI, gvk schema.GroupVersionKind) (string, *spec.Schema) {
	for name, s := range doc.Components.Schemas {
		var gvks []map[string]string
		if s.Extensions.GetObject(extensionGVK, &gvks) != nil {
			continue
		}
		for _, g := range gvks {
			if g["group"] == gvk.Group && g["version"] == gvk.Version && g["kind"] == gvk.Kind {
				return name, s
			}
		}
	}
	return "", nil
}

// patchesStrategically is kubectl apply's gvkSupportsPatchOpenAPIV3.
func patchesStrategically(doc *spec3.OpenAPI, gvk schema.GroupVersionKind) bool {
	for _, path := range doc.Paths.Paths {
		if path.Patch == nil || !singleGVKMatches(path.Patch.Extensions, gvk) {
			continue
		}
		if path.Patch.RequestBody == nil {
			return false
		}
		_, ok := path.Patch.RequestBody.Content["application/strategic-merge-patch+json"]
		return ok
	}
	return false
}

func singleGVKMatches(ext spec.Extensions, gvk schema.GroupVersionKind) bool {
	var g map[string]string
	if ext.GetObject(extensionGVK, &g) != nil {
		return false
	}
	return g["group"] == gvk.Group && g["version"] == gvk.Version && g["kind"] == gvk.Kind
}

// TestFieldValidationSupport runs the lookups of kubectl's query parameter
// verifiers (k8s.io/cli-runtime/pkg/resource query_param_verifier_v3.go
// first, query_param_verifier.go as the fallback): the first PATCH
// operation whose x-kubernetes-group-version-kind is the kind must take the
// fieldValidation query parameter. Without it, kubectl --validate=strict
// validates on the client side only, and warns.
func TestFieldValidationSupport(t *testing.T) {
	dc := discoveryClient(t, newTestServer(t))
	root := openapi3.NewRoot(dc.OpenAPIV3())
	v2, err := dc.OpenAPISchema() // protobuf, as kubectl asks for it
	if err != nil {
		t.Fatalf("OpenAPISchema: %v", err)
	}
	tests := []struct {
		gvk     schema.GroupVersionKind
		param   string
		wantErr string
	}{
		{appsV1.WithKind("Deployment"), "fieldValidation", ""},
		{coreV1.WithKind("Pod"), "fieldValidation", ""},
		{coreV1.WithKind("Namespace"), "fieldValidation", ""}, // kubectl's probe for CRDs
		{coreV1.WithKind("ConfigMap"), "fieldValidation", ""},
		{batchV1.WithKind("Job"), "fieldValidation", ""},
		{coordV1.WithKind("Lease"), "fieldValidation", ""},
		{autoscalingV1.WithKind("HorizontalPodAutoscaler"), "fieldValidation", ""},
		{appsV1.WithKind("Deployment"), "dryRun", ""},
		{appsV1.WithKind("Deployment"), "force", ""},
		{appsV1.WithKind("Deployment"), "fieldManager", ""},
		{coreV1.WithKind("Binding"), "fieldValidation", "not found"}, // created, never patched
		{schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"}, "fieldValidation", "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.gvk.Kind+"/"+tt.param, func(t *testing.T) {
			errV3 := supportsQueryParamV3(root, tt.gvk, tt.param)
			errV2 := supportsQueryParamV2(v2, tt.gvk, tt.param)
			for name, err := range map[string]error{"v3": errV3, "v2": errV2} {
				switch {
				case tt.wantErr == "" && err != nil:
					t.Errorf("%s: %v", name, err)
				case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
					t.Errorf("%s: error %v, want %q", name, err, tt.wantErr)
				}
			}
		})
	}
}

// supportsQueryParamV3 is cli-runtime's queryParamVerifierV3.HasSupport
// without the CRD fallback.
func supportsQueryParamV3(root openapi3.Root, gvk schema.GroupVersionKind, param string) error {
	doc, err := root.GVSpec(gvk.GroupVersion())
	var notFound *openapi3.GroupVersionNotFoundError
	if errors.As(err, &notFound) {
		return fmt.Errorf("%s not found", gvk.GroupVersion())
	}
	if err != nil {
		return err
	}
	for _, path := range doc.Paths.Paths {
		if path == nil || path.Patch == nil || !singleGVKMatches(path.Patch.Extensions, gvk) {
			continue
		}
		for _, p := range path.Patch.Parameters {
			if p.Name == param && p.In == "query" {
				return nil
			}
		}
		return fmt.Errorf("%s doesn't support %s", gvk, param)
	}
	return fmt.Errorf("path for %s not found", gvk)
}

// supportsQueryParamV2 is cli-runtime's supportsQueryParam over the v2
// protobuf document, following #/parameters/ references.
func supportsQueryParamV2(doc *openapi_v2.Document, gvk schema.GroupVersionKind, param string) error {
	global := map[string]*openapi_v2.NamedParameter{}
	for _, p := range doc.GetParameters().GetAdditionalProperties() {
		global["#/parameters/"+p.GetName()] = p
	}
	for _, path := range doc.GetPaths().GetPath() {
		patch := path.GetValue().GetPatch()
		if !v2GVKMatches(patch.GetVendorExtension(), gvk) {
			continue
		}
		for _, p := range patch.GetParameters() {
			if p.GetParameter().GetNonBodyParameter().GetQueryParameterSubSchema().GetName() == param {
				return nil
			}
			if g := global[p.GetJsonReference().GetXRef()]; g != nil &&
				g.GetValue().GetNonBodyParameter().GetQueryParameterSubSchema().GetName() == param {
				return nil
			}
		}
		return fmt.Errorf("%s doesn't support %s", gvk, param)
	}
	return fmt.Errorf("GVK %s not found in openapi", gvk)
}

func v2GVKMatches(extensions []*openapi_v2.NamedAny, gvk schema.GroupVersionKind) bool {
	for _, ext := range extensions {
		if ext.GetName() != extensionGVK || ext.GetValue().GetYaml() == "" {
			continue
		}
		var g map[string]string
		if yaml.Unmarshal([]byte(ext.GetValue().GetYaml()), &g) != nil {
			continue
		}
		return g["group"] == gvk.Group && g["version"] == gvk.Version && g["kind"] == gvk.Kind
	}
	return false
}

// TestV2Models parses the v2 document into the models kubectl's v2 code
// (explain --output=plaintext-openapiv2, older apply) uses, which fails on
// any dangling reference.
func TestV2Models(t *testing.T) {
	doc, err := discoveryClient(t, newTestServer(t)).OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema: %v", err)
	}
	models, err := proto.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("NewOpenAPIData: %v", err)
	}
	pod := models.LookupModel("io.k8s.api.core.v1.Pod")
	if pod == nil {
		t.Fatal("no Pod model")
	}
	if got := pod.GetPath().String(); got != "io.k8s.api.core.v1.Pod" {
		t.Errorf("Pod model path %q", got)
	}
}

// TestTypeConverter checks that every group version's schemas make a
// structured-merge-diff type converter (what server-side apply and managed
// fields are built on), i.e. that the list/map markers are consistent.
func TestTypeConverter(t *testing.T) {
	docs, err := buildDocuments(testResources())
	if err != nil {
		t.Fatal(err)
	}
	for gv, doc := range docs.v3 {
		t.Run(gv, func(t *testing.T) {
			if _, err := managedfields.NewTypeConverter(doc.Components.Schemas, false); err != nil {
				t.Errorf("NewTypeConverter: %v", err)
			}
		})
	}
}
