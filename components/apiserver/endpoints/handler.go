package endpoints

import (
	"net/http"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubelab/kubelab/components/apiserver/registry"
)

// Handler serves the resource API and its discovery documents.
type Handler struct {
	stores map[schema.GroupVersionResource]*registry.Store
	// groups in discovery order; "" (core) first.
	groups []string
	// versions of each group, preferred first.
	versions map[string][]string
	// byGroupVersion lists each group version's stores in name order.
	byGroupVersion map[schema.GroupVersion][]*registry.Store
	// connector serves connect subresources (nil: none).
	connector Connector
}

// New returns a Handler serving stores.
func New(stores []*registry.Store) *Handler {
	h := &Handler{
		stores:         map[schema.GroupVersionResource]*registry.Store{},
		versions:       map[string][]string{},
		byGroupVersion: map[schema.GroupVersion][]*registry.Store{},
	}
	for _, s := range stores {
		res := s.Resource()
		gv := res.GroupVersion
		h.stores[res.GVR()] = s
		if _, ok := h.versions[gv.Group]; !ok {
			h.groups = append(h.groups, gv.Group)
		}
		if len(h.byGroupVersion[gv]) == 0 {
			h.versions[gv.Group] = append(h.versions[gv.Group], gv.Version)
		}
		h.byGroupVersion[gv] = append(h.byGroupVersion[gv], s)
	}
	for gv := range h.byGroupVersion {
		list := h.byGroupVersion[gv]
		sort.Slice(list, func(i, j int) bool { return list[i].Resource().Name < list[j].Resource().Name })
	}
	return h
}

// ServeHTTP routes a request to discovery or to a resource verb.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info, ok := RequestInfoFrom(r.Context())
	if !ok {
		info = ParseRequestInfo(r)
		r = r.WithContext(WithRequestInfo(r.Context(), info))
	}
	if !info.IsResourceRequest {
		if h.serveDiscovery(w, r, info) {
			return
		}
		WriteError(w, r, notFound())
		return
	}
	gvr := schema.GroupVersionResource{Group: info.APIGroup, Version: info.APIVersion, Resource: info.Resource}
	s, ok := h.stores[gvr]
	if !ok || len(info.Parts) > 3 {
		WriteError(w, r, notFound())
		return
	}
	res := s.Resource()
	if !res.Namespaced && info.Namespace != "" {
		WriteError(w, r, notFound())
		return
	}
	if res.Namespaced && info.Namespace == "" && info.Verb != "list" && info.Verb != "watch" {
		WriteError(w, r, notFound())
		return
	}
	rq := &request{h: h, s: s, w: w, r: r, info: info}
	rq.serve()
}

func notFound() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
		Details: &metav1.StatusDetails{},
	}}
}

func methodNotAllowed(s *registry.Store, verb string) error {
	res := s.Resource()
	return apierrors.NewMethodNotSupported(schema.GroupResource{Group: res.GroupVersion.Group, Resource: res.Name}, verb)
}
