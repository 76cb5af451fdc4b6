// Package endpoints serves the Kubernetes REST API over the registry: it
// routes requests, negotiates content, decodes bodies, streams watches and
// writes Status errors. It never touches etcd.
package endpoints

import (
	"context"
	"net/http"
	"strings"
)

// RequestInfo is what a request asks for, parsed from its path and method
// as upstream's RequestInfoFactory does.
type RequestInfo struct {
	// IsResourceRequest is false for non-resource paths (/healthz, /api).
	IsResourceRequest bool
	// Path is the URL path.
	Path string
	// Verb is get, list, watch, create, update, patch, delete or
	// deletecollection for resource requests; the lowercase HTTP method otherwise.
	Verb        string
	APIPrefix   string // "api" or "apis"
	APIGroup    string
	APIVersion  string
	Namespace   string
	Resource    string
	Subresource string
	Name        string
	// Parts are the path segments after the resource.
	Parts []string
}

type requestInfoKey struct{}

// WithRequestInfo stores info in ctx.
func WithRequestInfo(ctx context.Context, info *RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// RequestInfoFrom returns the RequestInfo stored in ctx.
func RequestInfoFrom(ctx context.Context) (*RequestInfo, bool) {
	info, ok := ctx.Value(requestInfoKey{}).(*RequestInfo)
	return info, ok
}

// ParseRequestInfo parses r's path and method. Paths:
//
//	/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}
//	/apis/{group}/{version}/{resource}/{name}/{subresource}
//	/api/v1/watch/namespaces/{ns}/{resource}  (deprecated watch form)
func ParseRequestInfo(r *http.Request) *RequestInfo {
	info := &RequestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	parts := splitPath(r.URL.Path)
	if len(parts) < 1 || (parts[0] != "api" && parts[0] != "apis") {
		return info
	}
	info.APIPrefix = parts[0]
	parts = parts[1:]
	if info.APIPrefix == "apis" {
		if len(parts) < 1 {
			return info
		}
		info.APIGroup, parts = parts[0], parts[1:]
	}
	if len(parts) < 1 {
		return info
	}
	info.APIVersion, parts = parts[0], parts[1:]
	if len(parts) < 1 {
		return info
	}
	info.IsResourceRequest = true
	watchPath := false
	if parts[0] == "watch" {
		watchPath, parts = true, parts[1:]
	}
	switch r.Method {
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodGet, http.MethodHead:
		info.Verb = "get"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		info.Verb = "delete"
	}
	if len(parts) >= 2 && parts[0] == "namespaces" {
		info.Namespace = parts[1]
		// /namespaces/{name}/{status|finalize} are subresources of the
		// namespace itself; anything else after the name is a resource in it.
		if len(parts) > 2 && parts[2] != "status" && parts[2] != "finalize" {
			parts = parts[2:]
		}
	}
	info.Parts = parts
	info.Resource = parts[0]
	if len(parts) >= 2 {
		info.Name = parts[1]
	}
	if len(parts) >= 3 {
		info.Subresource = parts[2]
	}
	if info.Resource == "namespaces" && info.Name != "" {
		info.Namespace = ""
	}
	q := r.URL.Query()
	if info.Verb == "get" && info.Name == "" {
		info.Verb = "list"
		if v := q.Get("watch"); v == "true" || v == "1" {
			info.Verb = "watch"
		}
	}
	if watchPath && (info.Verb == "get" || info.Verb == "list") {
		info.Verb = "watch"
	}
	if info.Verb == "delete" && info.Name == "" {
		info.Verb = "deletecollection"
	}
	return info
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
