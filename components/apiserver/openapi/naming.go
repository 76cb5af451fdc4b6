package openapi

import (
	"reflect"
	"sort"
	"strings"
	"sync"
	"unicode"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Extension keys kubectl and client-go read.
const (
	extensionGVK    = "x-kubernetes-group-version-kind"
	extensionAction = "x-kubernetes-action"
)

// definitionNamer maps an OpenAPI model name (io.k8s.api.core.v1.Pod) to
// the GroupVersionKinds a scheme registers its Go type under, as upstream's
// k8s.io/apiserver/pkg/endpoints/openapi.DefinitionNamer does. Metadata
// types such as DeleteOptions are registered in every group version, so
// they carry one GVK per group version.
type definitionNamer struct {
	gvks map[string][]schema.GroupVersionKind
}

var (
	clientGoNamerOnce sync.Once
	clientGoNamer     *definitionNamer
)

// namerForClientGoScheme returns the namer for client-go's scheme, which
// registers every k8s.io/api type. It is built once per process.
func namerForClientGoScheme() *definitionNamer {
	clientGoNamerOnce.Do(func() { clientGoNamer = newDefinitionNamer(scheme.Scheme) })
	return clientGoNamer
}

func newDefinitionNamer(schemes ...*runtime.Scheme) *definitionNamer {
	n := &definitionNamer{gvks: map[string][]schema.GroupVersionKind{}}
	seen := map[schema.GroupVersionKind]bool{}
	for _, s := range schemes {
		for gvk, t := range s.AllKnownTypes() {
			if gvk.Version == runtime.APIVersionInternal || seen[gvk] {
				continue
			}
			seen[gvk] = true
			name := modelNameOf(reflect.New(t).Interface())
			n.gvks[name] = append(n.gvks[name], gvk)
		}
	}
	for _, list := range n.gvks {
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
	}
	return n
}

// GetDefinitionName is a common.Config.GetDefinitionName: names are kept
// (the generated definitions are keyed by REST-friendly model names
// already) and every registered kind gets x-kubernetes-group-version-kind.
func (n *definitionNamer) GetDefinitionName(name string) (string, spec.Extensions) {
	name = restFriendly(name)
	gvks, ok := n.gvks[name]
	if !ok {
		return name, nil
	}
	return name, spec.Extensions{extensionGVK: gvkListJSON(gvks)}
}

// modelNameOf returns the OpenAPI model name of a sample object, e.g.
// "io.k8s.api.core.v1.Pod".
func modelNameOf(sample any) string {
	return restFriendly(util.GetCanonicalTypeName(sample))
}

// restFriendly turns a Go canonical type name (k8s.io/api/core/v1.Pod) into
// a model name (io.k8s.api.core.v1.Pod); model names pass unchanged.
func restFriendly(name string) string {
	if !strings.Contains(name, "/") {
		return name
	}
	return util.ToRESTFriendlyName(name)
}

// gvkJSON is one GVK as it appears in the spec, in the plain JSON shape
// upstream uses so that consumers type-asserting extension values work.
func gvkJSON(gvk schema.GroupVersionKind) map[string]any {
	return map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
}

func gvkListJSON(gvks []schema.GroupVersionKind) []any {
	out := make([]any, 0, len(gvks))
	for _, gvk := range gvks {
		out = append(out, gvkJSON(gvk))
	}
	return out
}

// operationID returns upstream's operation ID and tag: the verb, then the
// group (".k8s.io" trimmed, "core" for the legacy group) and version, then
// the rest, e.g. ("read", core/v1, "NamespacedPodStatus") ->
// "readCoreV1NamespacedPodStatus" tagged "core_v1".
func operationID(verb string, gv schema.GroupVersion, rest string) (id, tag string) {
	group := strings.TrimSuffix(gv.Group, ".k8s.io")
	if group == "" {
		group = "core"
	}
	id = verb + validOperationID(group, true) + validOperationID(gv.Version, true) + validOperationID(rest, true)
	return id, validOperationID(group, false) + "_" + validOperationID(gv.Version, false)
}

// validOperationID drops characters not allowed in an operation ID and
// capitalizes the letter after each dropped one (upstream's
// ToValidOperationID): "rbac.authorization" -> "RbacAuthorization".
func validOperationID(s string, capitalizeFirst bool) string {
	var b strings.Builder
	capitalize := capitalizeFirst
	for i, r := range s {
		if !unicode.IsLetter(r) && r != '_' && (i == 0 || !unicode.IsDigit(r)) {
			capitalize = true
			continue
		}
		if capitalize {
			r = unicode.ToUpper(r)
			capitalize = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// article returns " a ", " an " or (for plurals such as Endpoints) " ",
// as upstream's GetArticleForNoun does for operation descriptions.
func article(noun string) string {
	if strings.HasSuffix(noun, "s") && !strings.HasSuffix(noun, "ss") {
		return " "
	}
	if noun != "" && strings.ContainsRune("AEIOUaeiou", rune(noun[0])) {
		return " an "
	}
	return " a "
}
