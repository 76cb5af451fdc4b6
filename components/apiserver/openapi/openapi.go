// Package openapi serves the API server's OpenAPI documents: /openapi/v2
// (JSON and protobuf) and /openapi/v3 (an index and one document per group
// version, at immutable ?hash= URLs). kubectl reads them for explain, for
// client-side apply's strategic merge patches, and to learn that the server
// validates fields itself (fieldValidation).
//
// Schemas come from zz_generated.openapi.go, which hack/update-openapi.sh
// generates from k8s.io/api's OpenAPI markers with kube-openapi's
// openapi-gen. Paths and operations are described the way upstream's
// kube-apiserver installer registers them, and the documents are built and
// served with kube-openapi's builder, builder3, handler and handler3.
package openapi

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Resource is one served resource, as discovery lists it.
type Resource struct {
	GroupVersion schema.GroupVersion // "" group for core
	Name         string              // plural, e.g. "pods"
	Kind         string              // e.g. "Pod"
	Namespaced   bool
	Subresources []string // e.g. "status", "scale", "binding", "eviction"
}

// Install registers /openapi/v2 and /openapi/v3 (the index and one document per group version, e.g. /openapi/v3/api/v1, /openapi/v3/apis/apps/v1) on mux.
//
// The documents are built here, once; serving them marshals each once on
// first request and then answers from memory, with ETags. A subresource may
// be given either in Subresources or as its own Resource named
// "pods/status". Install fails on a kind client-go's scheme does not know,
// on a subresource it cannot describe, and on patterns mux already has.
func Install(mux *http.ServeMux, resources []Resource) error {
	start := time.Now()
	docs, err := buildDocuments(resources)
	if err != nil {
		return fmt.Errorf("build openapi documents: %w", err)
	}
	if err := register(mux, docs); err != nil {
		return fmt.Errorf("install openapi handlers: %w", err)
	}
	slog.Debug("openapi documents built", "groupVersions", len(docs.v3), "definitions", len(docs.v2.Definitions),
		"paths", len(docs.v2.Paths.Paths), "elapsed", time.Since(start))
	return nil
}

// documents are the built specs: one v2 document and one v3 document per
// group version path ("api/v1", "apis/apps/v1").
type documents struct {
	v2 *spec.Swagger
	v3 map[string]*spec3.OpenAPI
}

func buildDocuments(resources []Resource) (*documents, error) {
	resources, err := normalize(resources)
	if err != nil {
		return nil, err
	}
	byGV := map[string]*container{}
	var containers []common.RouteContainer
	for _, r := range resources {
		routes, err := buildResourceRoutes(r)
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", r.GroupVersion.WithResource(r.Name), err)
		}
		p := gvPath(r.GroupVersion)
		c, ok := byGV[p]
		if !ok {
			c = &container{root: "/" + p}
			byGV[p] = c
			containers = append(containers, c)
		}
		c.routes = append(c.routes, routes...)
	}

	namer := namerForClientGoScheme()
	v2, err := builder.BuildOpenAPISpecFromRoutes(containers, v2Config(namer))
	if err != nil {
		return nil, fmt.Errorf("openapi v2 (a type without a definition needs its package in hack/update-openapi.sh): %w", err)
	}
	// Upstream serves v2 without defaults: v2 clients (old kubectl) would
	// otherwise apply them on the client side.
	v2.Definitions = handlerPruneDefaults(v2.Definitions)

	v3Config := v3Config(namer)
	docs := &documents{v2: v2, v3: make(map[string]*spec3.OpenAPI, len(byGV))}
	for p, c := range byGV {
		doc, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{c}, v3Config)
		if err != nil {
			return nil, fmt.Errorf("openapi v3 %s: %w", p, err)
		}
		docs.v3[p] = doc
	}
	return docs, nil
}

// normalize folds "pods/status" entries into their parent, drops duplicate
// subresources, checks names and sorts resources by group version and name.
func normalize(in []Resource) ([]Resource, error) {
	type key struct {
		gv   schema.GroupVersion
		name string
	}
	index := map[key]int{}
	var out []Resource
	var subs []Resource
	for _, r := range in {
		switch {
		case r.Name == "" || r.GroupVersion.Version == "":
			return nil, fmt.Errorf("resource %q in %q: name and version are required", r.Name, r.GroupVersion)
		case strings.Contains(r.Name, "/"):
			subs = append(subs, r)
			continue
		case r.Kind == "":
			return nil, fmt.Errorf("resource %s: kind is required", r.GroupVersion.WithResource(r.Name))
		}
		k := key{r.GroupVersion, r.Name}
		if _, dup := index[k]; dup {
			return nil, fmt.Errorf("resource %s listed twice", r.GroupVersion.WithResource(r.Name))
		}
		r.Subresources = slices.Clone(r.Subresources)
		index[k] = len(out)
		out = append(out, r)
	}
	for _, s := range subs {
		parent, sub, _ := strings.Cut(s.Name, "/")
		i, ok := index[key{s.GroupVersion, parent}]
		if !ok {
			return nil, fmt.Errorf("subresource %s: parent %q not listed", s.GroupVersion.WithResource(s.Name), parent)
		}
		out[i].Subresources = append(out[i].Subresources, sub)
	}
	for i := range out {
		slices.Sort(out[i].Subresources)
		out[i].Subresources = slices.Compact(out[i].Subresources)
	}
	slices.SortFunc(out, func(a, b Resource) int {
		return cmp.Or(cmp.Compare(gvPath(a.GroupVersion), gvPath(b.GroupVersion)), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// info is the documents' info object.
var info = &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: "kubelab"}}

// The BearerToken security scheme upstream declares.
const (
	securityName        = "BearerToken"
	securityDescription = "Bearer Token authentication"
)

func v2Config(namer *definitionNamer) *common.Config {
	return &common.Config{
		ProtocolList: []string{"https"},
		Info:         info,
		CommonResponses: map[int]spec.Response{
			http.StatusUnauthorized: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}},
		},
		GetDefinitions:                 GetOpenAPIDefinitions,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
		GetDefinitionName:              namer.GetDefinitionName,
		SecurityDefinitions: &spec.SecurityDefinitions{securityName: {SecuritySchemeProps: spec.SecuritySchemeProps{
			Type: "apiKey", Name: "authorization", In: "header", Description: securityDescription,
		}}},
		DefaultSecurity: []map[string][]string{{securityName: {}}},
	}
}

func v3Config(namer *definitionNamer) *common.OpenAPIV3Config {
	// The definitions are shared by every group version's build: generating
	// them is the expensive part, and the builder copies what it uses.
	defs := GetOpenAPIDefinitions(func(name string) spec.Ref {
		n, _ := namer.GetDefinitionName(name)
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(n))
	})
	return &common.OpenAPIV3Config{
		Info: info,
		CommonResponses: map[int]*spec3.Response{
			http.StatusUnauthorized: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}},
		},
		Definitions:                    defs,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
		GetDefinitionName:              namer.GetDefinitionName,
		SecuritySchemes: spec3.SecuritySchemes{securityName: {SecuritySchemeProps: spec3.SecuritySchemeProps{
			Type: "apiKey", Name: "authorization", In: "header", Description: securityDescription,
		}}},
	}
}
