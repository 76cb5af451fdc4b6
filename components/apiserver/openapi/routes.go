package openapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/common"
)

// Media types, as upstream's kube-apiserver lists them.
var (
	consumesAny   = []string{"*/*"}
	consumesPatch = []string{
		"application/json-patch+json",
		"application/merge-patch+json",
		"application/strategic-merge-patch+json", // kubectl apply needs this to send strategic merge patches
		"application/apply-patch+yaml",
	}
	producesObject = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	producesList   = slices.Concat(producesObject, []string{"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"})
	producesLog    = slices.Concat([]string{"text/plain"}, producesObject)
	producesAny    = []string{"*/*"}
)

// route is a common.Route: one operation on one path.
type route struct {
	method, path    string
	id, tag         string
	description     string
	params          []common.Parameter
	consumes        []string
	produces        []string
	metadata        map[string]any
	body            any // request body sample, nil when there is none
	statusResponses []common.StatusCodeResponse
}

var _ common.Route = (*route)(nil)

func (r *route) Method() string                                   { return r.method }
func (r *route) Path() string                                     { return r.path }
func (r *route) OperationName() string                            { return r.id }
func (r *route) Parameters() []common.Parameter                   { return r.params }
func (r *route) Description() string                              { return r.description }
func (r *route) Consumes() []string                               { return r.consumes }
func (r *route) Produces() []string                               { return r.produces }
func (r *route) Metadata() map[string]any                         { return r.metadata }
func (r *route) RequestPayloadSample() any                        { return r.body }
func (r *route) ResponsePayloadSample() any                       { return nil }
func (r *route) StatusCodeResponses() []common.StatusCodeResponse { return r.statusResponses }

// operationIDAndTags is the common.Config hook naming operations.
func operationIDAndTags(r common.Route) (string, []string, error) {
	rt, ok := r.(*route)
	if !ok {
		return "", nil, fmt.Errorf("route %s %s is not an openapi route", r.Method(), r.Path())
	}
	return rt.id, []string{rt.tag}, nil
}

// response is a common.StatusCodeResponse.
type response struct {
	code    int
	message string
	model   any
}

func (r response) Code() int       { return r.code }
func (r response) Message() string { return r.message }
func (r response) Model() any      { return r.model }

func responses(model any, codes ...int) []common.StatusCodeResponse {
	out := make([]common.StatusCodeResponse, 0, len(codes))
	for _, c := range codes {
		out = append(out, response{code: c, message: http.StatusText(c), model: model})
	}
	return out
}

// container is a common.RouteContainer holding one group version's routes.
type container struct {
	root   string
	routes []common.Route
}

func (c *container) RootPath() string                   { return c.root }
func (c *container) PathParameters() []common.Parameter { return nil }
func (c *container) Routes() []common.Route             { return c.routes }

// gvPath is the path of a group version below the server root and below
// /openapi/v3: "api/v1" or "apis/apps/v1".
func gvPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// newObject returns a sample object of a registered kind.
func newObject(gvk schema.GroupVersionKind) (runtime.Object, error) {
	obj, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil, fmt.Errorf("no Go type for %s: %w", gvk, err)
	}
	return obj, nil
}

// resourceRoutes builds upstream's routes for one resource and its
// subresources.
type resourceRoutes struct {
	r          Resource
	gvk        schema.GroupVersionKind
	obj, list  runtime.Object
	prefix     string // "/api/v1"
	scope      string // "Namespaced" or ""
	itemParams []common.Parameter
	collParams []common.Parameter
	out        []common.Route
}

func buildResourceRoutes(r Resource) ([]common.Route, error) {
	b := &resourceRoutes{r: r, gvk: r.GroupVersion.WithKind(r.Kind), prefix: "/" + gvPath(r.GroupVersion)}
	var err error
	if b.obj, err = newObject(b.gvk); err != nil {
		return nil, err
	}
	verbs := verbsFor(r)
	if verbs.has("list") || verbs.has("deletecollection") {
		if b.list, err = newObject(r.GroupVersion.WithKind(r.Kind + "List")); err != nil {
			return nil, err
		}
	}
	if r.Namespaced {
		b.scope = "Namespaced"
		b.collParams = []common.Parameter{namespaceParam}
	}
	b.itemParams = withParams(b.collParams, []param{nameParam(r.Kind)})
	b.addResource(verbs)
	for _, sub := range r.Subresources {
		if err := b.addSubresource(sub); err != nil {
			return nil, err
		}
	}
	return b.out, nil
}

func (b *resourceRoutes) collPath() string {
	if b.r.Namespaced {
		return b.prefix + "/namespaces/{namespace}/" + b.r.Name
	}
	return b.prefix + "/" + b.r.Name
}

func (b *resourceRoutes) watchPath() string {
	return strings.Replace(b.collPath(), b.prefix, b.prefix+"/watch", 1)
}

// add appends one route. verb is the operation ID's verb, rest what follows
// the group version in the ID, action the x-kubernetes-action value and gvk
// the kind the operation acts on.
func (b *resourceRoutes) add(rt *route, verb, rest, action string, gvk schema.GroupVersionKind) {
	rt.id, rt.tag = operationID(verb, b.r.GroupVersion, rest)
	rt.metadata = map[string]any{extensionAction: action, extensionGVK: gvkJSON(gvk)}
	if rt.consumes == nil {
		rt.consumes = consumesAny
	}
	b.out = append(b.out, rt)
}

func withParams(base []common.Parameter, extra ...[]param) []common.Parameter {
	out := append([]common.Parameter(nil), base...)
	for _, list := range extra {
		for _, p := range list {
			out = append(out, p)
		}
	}
	return out
}

func (b *resourceRoutes) addResource(verbs verbSet) {
	kind, scope, item := b.r.Kind, b.scope, b.collPath()+"/{name}"
	pretty := []param{prettyParam}
	status := &metav1.Status{}
	deleted := any(status)
	if returnsDeletedObject[b.r.GroupVersion.WithResource(b.r.Name).GroupResource()] {
		deleted = b.obj
	}
	if verbs.has("list") {
		b.add(&route{method: "GET", path: b.collPath(), description: "list or watch objects of kind " + kind,
			params: withParams(b.collParams, pretty, listParams), produces: producesList,
			statusResponses: responses(b.list, http.StatusOK)}, "list", scope+kind, "list", b.gvk)
	}
	if verbs.has("create") {
		b.add(&route{method: "POST", path: b.collPath(), description: "create" + article(kind) + kind,
			params: withParams(b.collParams, pretty, createParams, []param{bodyParam}), produces: producesObject, body: b.obj,
			statusResponses: responses(b.obj, http.StatusOK, http.StatusCreated, http.StatusAccepted)}, "create", scope+kind, "post", b.gvk)
	}
	if verbs.has("deletecollection") {
		b.add(&route{method: "DELETE", path: b.collPath(), description: "delete collection of " + kind,
			params: withParams(b.collParams, pretty, deleteCollectionParams, []param{optionalBodyParam}), produces: producesObject,
			body: &metav1.DeleteOptions{}, statusResponses: responses(status, http.StatusOK)}, "delete", "Collection"+scope+kind, "deletecollection", b.gvk)
	}
	if verbs.has("watch") && verbs.has("list") {
		b.add(&route{method: "GET", path: b.watchPath(), description: "watch individual changes to a list of " + kind +
			". deprecated: use the 'watch' parameter with a list operation instead.",
			params: withParams(b.collParams, pretty, listParams), produces: producesList,
			statusResponses: responses(&metav1.WatchEvent{}, http.StatusOK)}, "watch", scope+kind+"List", "watchlist", b.gvk)
	}
	if verbs.has("get") {
		b.add(&route{method: "GET", path: item, description: "read the specified " + kind,
			params: withParams(b.itemParams, pretty), produces: producesObject,
			statusResponses: responses(b.obj, http.StatusOK)}, "read", scope+kind, "get", b.gvk)
	}
	if verbs.has("update") {
		b.add(&route{method: "PUT", path: item, description: "replace the specified " + kind,
			params: withParams(b.itemParams, pretty, updateParams, []param{bodyParam}), produces: producesObject, body: b.obj,
			statusResponses: responses(b.obj, http.StatusOK, http.StatusCreated)}, "replace", scope+kind, "put", b.gvk)
	}
	if verbs.has("patch") {
		b.add(&route{method: "PATCH", path: item, description: "partially update the specified " + kind,
			params: withParams(b.itemParams, pretty, patchParams, []param{bodyParam}), consumes: consumesPatch, produces: producesObject,
			body: &metav1.Patch{}, statusResponses: responses(b.obj, http.StatusOK, http.StatusCreated)}, "patch", scope+kind, "patch", b.gvk)
	}
	if verbs.has("delete") {
		b.add(&route{method: "DELETE", path: item, description: "delete" + article(kind) + kind,
			params: withParams(b.itemParams, pretty, deleteParams, []param{optionalBodyParam}), produces: producesObject,
			body: &metav1.DeleteOptions{}, statusResponses: responses(deleted, http.StatusOK, http.StatusAccepted)}, "delete", scope+kind, "delete", b.gvk)
	}
	if verbs.has("watch") && verbs.has("get") {
		b.add(&route{method: "GET", path: b.watchPath() + "/{name}", description: "watch changes to an object of kind " + kind +
			". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.",
			params: withParams(b.itemParams, pretty, listParams), produces: producesList,
			statusResponses: responses(&metav1.WatchEvent{}, http.StatusOK)}, "watch", scope+kind, "watch", b.gvk)
	}
	if !b.r.Namespaced || !verbs.has("list") {
		return
	}
	// Namespaced resources are also listed across all namespaces.
	all := b.prefix + "/" + b.r.Name
	b.add(&route{method: "GET", path: all, description: "list or watch objects of kind " + kind,
		params: withParams(nil, pretty, listParams), produces: producesList,
		statusResponses: responses(b.list, http.StatusOK)}, "list", kind+"ForAllNamespaces", "list", b.gvk)
	if verbs.has("watch") {
		b.add(&route{method: "GET", path: b.prefix + "/watch/" + b.r.Name, description: "watch individual changes to a list of " + kind +
			". deprecated: use the 'watch' parameter with a list operation instead.",
			params: withParams(nil, pretty, listParams), produces: producesList,
			statusResponses: responses(&metav1.WatchEvent{}, http.StatusOK)}, "watch", kind+"ListForAllNamespaces", "watchlist", b.gvk)
	}
}
