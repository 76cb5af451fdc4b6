package openapi

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
)

// verbSet is the set of verbs a resource serves.
type verbSet []string

func (v verbSet) has(verb string) bool { return slices.Contains(v, verb) }

var allVerbs = verbSet{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// verbOverrides lists the resources that, upstream, serve fewer verbs than
// all of them. Every other resource gets allVerbs.
var verbOverrides = map[schema.GroupResource]verbSet{
	{Resource: "bindings"}:          {"create"},
	{Resource: "componentstatuses"}: {"get", "list"},
	{Resource: "namespaces"}:        {"create", "delete", "get", "list", "patch", "update", "watch"},
}

// returnsDeletedObject lists the resources whose DELETE answers with the
// deleted object rather than a Status, as upstream's registries do.
var returnsDeletedObject = map[schema.GroupResource]bool{
	{Resource: "pods"}:     true,
	{Resource: "services"}: true,
}

func verbsFor(r Resource) verbSet {
	if v, ok := verbOverrides[r.GroupVersion.WithResource(r.Name).GroupResource()]; ok {
		return v
	}
	return allVerbs
}

// subresource describes how upstream serves one subresource.
type subresource struct {
	// verbs among "get", "update", "patch", "create" (POST) and "connect".
	verbs []string
	// kind is the kind the subresource's operations act on, given the
	// parent resource's.
	kind func(parent schema.GroupVersionKind) schema.GroupVersionKind
	// getOptions: the GET takes the query parameters of the kind's
	// <Kind><Subresource>Options (PodLogOptions) and answers with text.
	getOptions bool
	// connectMethods are the HTTP methods a "connect" subresource accepts;
	// its query parameters come from its kind (PodExecOptions...).
	connectMethods []string
	// subpath: connect also on {name}/<sub>/{path} (proxy).
	subpath bool
}

func sameKind(parent schema.GroupVersionKind) schema.GroupVersionKind { return parent }

func fixedKind(gvk schema.GroupVersionKind) func(schema.GroupVersionKind) schema.GroupVersionKind {
	return func(schema.GroupVersionKind) schema.GroupVersionKind { return gvk }
}

// optionsKind is the per-parent options kind of connect subresources:
// Pod + "ExecOptions" -> PodExecOptions, Node + "ProxyOptions" ...
func optionsKind(suffix string) func(schema.GroupVersionKind) schema.GroupVersionKind {
	return func(p schema.GroupVersionKind) schema.GroupVersionKind {
		return p.GroupVersion().WithKind(p.Kind + suffix)
	}
}

var proxyMethods = []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH"}

// subresources are the subresources Install knows how to describe.
var subresources = map[string]subresource{
	"status":              {verbs: []string{"get", "update", "patch"}, kind: sameKind},
	"ephemeralcontainers": {verbs: []string{"get", "update", "patch"}, kind: sameKind},
	"resize":              {verbs: []string{"get", "update", "patch"}, kind: sameKind},
	"finalize":            {verbs: []string{"update"}, kind: sameKind},
	"scale":               {verbs: []string{"get", "update", "patch"}, kind: fixedKind(autoscalingv1.SchemeGroupVersion.WithKind("Scale"))},
	"binding":             {verbs: []string{"create"}, kind: fixedKind(corev1.SchemeGroupVersion.WithKind("Binding"))},
	"eviction":            {verbs: []string{"create"}, kind: fixedKind(policyv1.SchemeGroupVersion.WithKind("Eviction"))},
	"token":               {verbs: []string{"create"}, kind: fixedKind(authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"))},
	"log":                 {verbs: []string{"get"}, kind: sameKind, getOptions: true},
	"exec":                {verbs: []string{"connect"}, kind: optionsKind("ExecOptions"), connectMethods: []string{"GET", "POST"}},
	"attach":              {verbs: []string{"connect"}, kind: optionsKind("AttachOptions"), connectMethods: []string{"GET", "POST"}},
	"portforward":         {verbs: []string{"connect"}, kind: optionsKind("PortForwardOptions"), connectMethods: []string{"GET", "POST"}},
	"proxy":               {verbs: []string{"connect"}, kind: optionsKind("ProxyOptions"), connectMethods: proxyMethods, subpath: true},
}

func knownSubresources() string {
	names := make([]string, 0, len(subresources))
	for n := range subresources {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (b *resourceRoutes) addSubresource(name string) error {
	sub, ok := subresources[name]
	if !ok {
		return fmt.Errorf("subresource %s/%s: unknown (known: %s)", b.r.Name, name, knownSubresources())
	}
	gvk := sub.kind(b.gvk)
	obj, err := newObject(gvk)
	if err != nil {
		return fmt.Errorf("subresource %s/%s: %w", b.r.Name, name, err)
	}
	path := b.collPath() + "/{name}/" + name
	kind, rest := b.r.Kind, b.scope+b.r.Kind+title(name)
	pretty := []param{prettyParam}
	// Upstream names the {name} parameter after the subresource's kind:
	// "name of the Scale", "name of the Eviction".
	itemParams := withParams(b.collParams, []param{nameParam(gvk.Kind)})
	for _, verb := range sub.verbs {
		switch verb {
		case "get":
			rt := &route{method: "GET", path: path, description: "read " + name + " of the specified " + kind,
				params: withParams(itemParams, pretty), produces: producesObject, statusResponses: responses(obj, http.StatusOK)}
			if sub.getOptions {
				opts, err := newObject(gvk.GroupVersion().WithKind(gvk.Kind + title(name) + "Options"))
				if err != nil {
					return fmt.Errorf("subresource %s/%s: %w", b.r.Name, name, err)
				}
				rt.params = withParams(rt.params, objectParams(opts))
				rt.produces, rt.statusResponses = producesLog, responses("", http.StatusOK)
			}
			b.add(rt, "read", rest, "get", gvk)
		case "update":
			b.add(&route{method: "PUT", path: path, description: "replace " + name + " of the specified " + kind,
				params: withParams(itemParams, pretty, updateParams, []param{bodyParam}), produces: producesObject, body: obj,
				statusResponses: responses(obj, http.StatusOK, http.StatusCreated)}, "replace", rest, "put", gvk)
		case "patch":
			b.add(&route{method: "PATCH", path: path, description: "partially update " + name + " of the specified " + kind,
				params: withParams(itemParams, pretty, patchParams, []param{bodyParam}), consumes: consumesPatch, produces: producesObject,
				body: &metav1.Patch{}, statusResponses: responses(obj, http.StatusOK, http.StatusCreated)}, "patch", rest, "patch", gvk)
		case "create":
			b.add(&route{method: "POST", path: path, description: "create " + name + " of" + article(kind) + kind,
				params: withParams(itemParams, pretty, createParams, []param{bodyParam}), produces: producesObject, body: obj,
				statusResponses: responses(obj, http.StatusOK, http.StatusCreated, http.StatusAccepted)}, "create", rest, "post", gvk)
		case "connect":
			b.addConnect(sub, name, path, itemParams, obj, gvk)
		}
	}
	return nil
}

// addConnect adds one operation per HTTP method of a connect subresource
// (exec, attach, portforward, proxy), and for proxy the same on .../{path}.
func (b *resourceRoutes) addConnect(sub subresource, name, path string, itemParams []common.Parameter, opts any, gvk schema.GroupVersionKind) {
	type variant struct {
		path   string
		params []common.Parameter
		suffix string
	}
	variants := []variant{{path: path, params: itemParams}}
	if sub.subpath {
		variants = append(variants, variant{path: path + "/{path}", params: withParams(itemParams, []param{subpathParam}), suffix: "WithPath"})
	}
	for _, v := range variants {
		for _, method := range sub.connectMethods {
			rest := title(strings.ToLower(method)) + b.scope + b.r.Kind + title(name) + v.suffix
			b.add(&route{method: method, path: v.path, description: "connect " + method + " requests to " + name + " of " + b.r.Kind,
				params: withParams(v.params, objectParams(opts)), produces: producesAny,
				statusResponses: responses("", http.StatusOK)}, "connect", rest, "connect", gvk)
		}
	}
}
