package openapi

import (
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/common"
)

// param is a common.Parameter.
type param struct {
	name, description string
	kind              common.ParameterKind
	dataType          string
	required          bool
}

var _ common.Parameter = param{}

func (p param) Name() string               { return p.name }
func (p param) Description() string        { return p.description }
func (p param) Required() bool             { return p.required }
func (p param) Kind() common.ParameterKind { return p.kind }
func (p param) DataType() string           { return p.dataType }
func (p param) AllowMultiple() bool        { return false }

// The parameters every resource route shares, worded as upstream's.
var (
	namespaceParam = param{
		name: "namespace", description: "object name and auth scope, such as for teams and projects",
		kind: common.PathParameterKind, dataType: "string", required: true,
	}
	subpathParam = param{
		name: "path", description: "path to the resource",
		kind: common.PathParameterKind, dataType: "string", required: true,
	}
	prettyParam = param{
		name:        "pretty",
		description: "If 'true', then the output is pretty printed. Defaults to 'false' unless the user agent indicates a browser or command-line HTTP tool (curl and wget).",
		kind:        common.QueryParameterKind, dataType: "string",
	}
	bodyParam = param{name: "body", kind: common.BodyParameterKind, required: true}
	// Delete takes its options either as query parameters or as a body.
	optionalBodyParam = param{name: "body", kind: common.BodyParameterKind}
)

func nameParam(kind string) param {
	return param{
		name: "name", description: "name of the " + kind,
		kind: common.PathParameterKind, dataType: "string", required: true,
	}
}

// Query parameters of each verb, from the versioned options types the way
// upstream's installer derives them (endpoints.AddObjectParams). kubectl
// looks for fieldValidation on PATCH to decide whether the server validates
// fields itself (--validate=strict), so create, update and patch carry it.
var (
	listParams             = objectParams(&metav1.ListOptions{})
	createParams           = objectParams(&metav1.CreateOptions{})
	updateParams           = objectParams(&metav1.UpdateOptions{})
	patchParams            = objectParams(&metav1.PatchOptions{})
	deleteParams           = objectParams(&metav1.DeleteOptions{})
	deleteCollectionParams = mergeParams(objectParams(&metav1.ListOptions{}, "watch", "allowWatchBookmarks"), deleteParams)
)

type swaggerDocumented interface {
	SwaggerDoc() map[string]string
}

// objectParams turns the scalar (and scalar slice) fields of an options
// struct into query parameters named by their JSON names and described by
// the type's SwaggerDoc. Struct and interface fields (TypeMeta,
// Preconditions, metav1.Time) are skipped, as upstream does.
func objectParams(obj any, excluded ...string) []param {
	var docs map[string]string
	if d, ok := obj.(swaggerDocumented); ok {
		docs = d.SwaggerDoc()
	}
	t := reflect.TypeOf(obj)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []param
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || slices.Contains(excluded, name) {
			continue
		}
		dataType := queryDataType(f.Type)
		if dataType == "" {
			continue
		}
		out = append(out, param{name: name, description: docs[name], kind: common.QueryParameterKind, dataType: dataType})
	}
	return out
}

// queryDataType maps a field type to a query parameter's OpenAPI type, or ""
// for types a query string cannot carry. Slices are sent as repeated
// parameters and typed by their element, as upstream does.
func queryDataType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8 {
		t = t.Elem()
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String, reflect.Slice: // []byte
		return "string"
	default:
		return ""
	}
}

// mergeParams concatenates parameter lists, keeping the first of each name.
func mergeParams(lists ...[]param) []param {
	type key struct {
		name string
		kind common.ParameterKind
	}
	var out []param
	seen := map[key]bool{}
	for _, list := range lists {
		for _, p := range list {
			key := key{p.name, p.kind}
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, p)
		}
	}
	return out
}
