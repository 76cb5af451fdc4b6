package endpoints

import (
	"net/http/httptest"
	"testing"
)

func TestParseRequestInfo(t *testing.T) {
	for _, tc := range []struct {
		method, url                                  string
		verb, group, ns, resource, name, subresource string
		resourceRequest                              bool
	}{
		{"GET", "/api", "get", "", "", "", "", "", false},
		{"GET", "/apis/apps/v1", "get", "apps", "", "", "", "", false},
		{"GET", "/api/v1/pods", "list", "", "", "pods", "", "", true},
		{"GET", "/api/v1/pods?watch=true", "watch", "", "", "pods", "", "", true},
		{"GET", "/api/v1/namespaces/ns/pods/p", "get", "", "ns", "pods", "p", "", true},
		{"POST", "/api/v1/namespaces/ns/pods/p/binding", "create", "", "ns", "pods", "p", "binding", true},
		{"DELETE", "/api/v1/namespaces/ns/pods", "deletecollection", "", "ns", "pods", "", "", true},
		{"GET", "/api/v1/namespaces/ns", "get", "", "", "namespaces", "ns", "", true},
		{"PUT", "/api/v1/namespaces/ns/finalize", "update", "", "", "namespaces", "ns", "finalize", true},
		{"PATCH", "/api/v1/namespaces/ns/status", "patch", "", "", "namespaces", "ns", "status", true},
		{"GET", "/api/v1/namespaces", "list", "", "", "namespaces", "", "", true},
		{"GET", "/api/v1/watch/namespaces/ns/pods", "watch", "", "ns", "pods", "", "", true},
		{"PATCH", "/apis/apps/v1/namespaces/ns/deployments/d/scale", "patch", "apps", "ns", "deployments", "d", "scale", true},
	} {
		info := ParseRequestInfo(httptest.NewRequest(tc.method, tc.url, nil))
		if info.Verb != tc.verb || info.APIGroup != tc.group || info.Namespace != tc.ns || info.Resource != tc.resource ||
			info.Name != tc.name || info.Subresource != tc.subresource || info.IsResourceRequest != tc.resourceRequest {
			t.Errorf("%s %s: got %+v", tc.method, tc.url, info)
		}
	}
}
