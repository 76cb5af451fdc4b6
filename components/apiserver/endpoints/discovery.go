package endpoints

import (
	"net"
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubelab/kubelab/components/apiserver/registry"
)

var mainVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// subresource is one subresource as discovery lists it.
type subresource struct {
	name  string
	kind  schema.GroupVersionKind
	verbs []string
}

// subresources returns the subresources a resource serves.
func subresources(res *registry.Resource) []subresource {
	var out []subresource
	if res.Name == "pods" {
		out = append(out,
			subresource{"binding", res.GroupVersion.WithKind("Binding"), []string{"create"}},
			subresource{"eviction", policyv1.SchemeGroupVersion.WithKind("Eviction"), []string{"create"}},
			// Connect subresources, proxied to the pod's kubelet.
			subresource{"log", res.GVK(), []string{"get"}},
			subresource{"exec", res.GroupVersion.WithKind("PodExecOptions"), []string{"create", "get"}},
			subresource{"attach", res.GroupVersion.WithKind("PodAttachOptions"), []string{"create", "get"}},
			subresource{"portforward", res.GroupVersion.WithKind("PodPortForwardOptions"), []string{"create", "get"}})
	}
	if res.Name == "namespaces" {
		out = append(out, subresource{"finalize", res.GVK(), []string{"update"}})
	}
	if res.Scale != nil {
		out = append(out, subresource{"scale", autoscalingv1.SchemeGroupVersion.WithKind("Scale"), []string{"get", "patch", "update"}})
	}
	if res.HasStatus {
		out = append(out, subresource{"status", res.GVK(), []string{"get", "patch", "update"}})
	}
	return out
}

// SubresourceNames lists the subresources of res, for the OpenAPI document.
func SubresourceNames(res *registry.Resource) []string {
	var names []string
	for _, s := range subresources(res) {
		names = append(names, s.name)
	}
	return names
}

func (h *Handler) resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, s := range h.byGroupVersion[gv] {
		res := s.Resource()
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: res.Name, SingularName: res.SingularName, Namespaced: res.Namespaced, Kind: res.Kind,
			Verbs: mainVerbs, ShortNames: res.ShortNames, Categories: res.Categories,
		})
		for _, sub := range subresources(res) {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: res.Name + "/" + sub.name, Namespaced: res.Namespaced,
				Group: sub.kind.Group, Version: sub.kind.Version, Kind: sub.kind.Kind, Verbs: sub.verbs,
			})
		}
	}
	return list
}

func (h *Handler) apiGroup(group string) metav1.APIGroup {
	g := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: group}
	for _, v := range h.versions[group] {
		g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + v, Version: v})
	}
	g.PreferredVersion = g.Versions[0]
	return g
}

func (h *Handler) aggregated(legacy bool) *apidiscoveryv2.APIGroupDiscoveryList {
	out := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	for _, group := range h.groups {
		if (group == "") != legacy {
			continue
		}
		gd := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: group}}
		for _, v := range h.versions[group] {
			vd := apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
			for _, s := range h.byGroupVersion[schema.GroupVersion{Group: group, Version: v}] {
				res := s.Resource()
				scope := apidiscoveryv2.ScopeCluster
				if res.Namespaced {
					scope = apidiscoveryv2.ScopeNamespace
				}
				gvk := res.GVK()
				rd := apidiscoveryv2.APIResourceDiscovery{
					Resource: res.Name, SingularResource: res.SingularName, Scope: scope,
					ResponseKind: &metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
					Verbs:        mainVerbs, ShortNames: res.ShortNames, Categories: res.Categories,
				}
				for _, sub := range subresources(res) {
					rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{
						Subresource:  sub.name,
						ResponseKind: &metav1.GroupVersionKind{Group: sub.kind.Group, Version: sub.kind.Version, Kind: sub.kind.Kind},
						Verbs:        sub.verbs,
					})
				}
				vd.Resources = append(vd.Resources, rd)
			}
			gd.Versions = append(gd.Versions, vd)
		}
		out.Items = append(out.Items, gd)
	}
	return out
}

// wantsAggregated reports whether the Accept header asks for aggregated
// discovery first, and which version of it.
func wantsAggregated(r *http.Request) (string, bool) {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, "as=APIGroupDiscoveryList") || !strings.Contains(part, "g=apidiscovery.k8s.io") {
			if strings.HasPrefix(part, "application/json") || strings.HasPrefix(part, "*/*") {
				return "", false
			}
			continue
		}
		if strings.Contains(part, "v=v2beta1") {
			return "v2beta1", true
		}
		if strings.Contains(part, "v=v2") {
			return "v2", true
		}
	}
	return "", false
}

// serveDiscovery serves /api, /apis and their group and version documents.
func (h *Handler) serveDiscovery(w http.ResponseWriter, r *http.Request, info *RequestInfo) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	parts := splitPath(info.Path)
	plain := output{}
	switch {
	case len(parts) == 1 && (parts[0] == "api" || parts[0] == "apis"):
		legacy := parts[0] == "api"
		if v, ok := wantsAggregated(r); ok {
			list := h.aggregated(legacy)
			list.APIVersion = "apidiscovery.k8s.io/" + v
			data, err := encodeJSON(list)
			if err != nil {
				WriteError(w, r, err)
				return true
			}
			w.Header().Set("Content-Type", "application/json;g=apidiscovery.k8s.io;v="+v+";as=APIGroupDiscoveryList")
			w.Header().Set("Vary", "Accept")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(data)
			return true
		}
		if legacy {
			plain.write(w, r, http.StatusOK, &metav1.APIVersions{
				TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
				ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: serverAddress(r)}},
			}, nil)
			return true
		}
		list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, g := range h.groups {
			if g != "" {
				list.Groups = append(list.Groups, h.apiGroup(g))
			}
		}
		plain.write(w, r, http.StatusOK, list, nil)
		return true
	case len(parts) == 2 && parts[0] == "api" && parts[1] == "v1":
		plain.write(w, r, http.StatusOK, h.resourceList(schema.GroupVersion{Version: "v1"}), nil)
		return true
	case len(parts) == 2 && parts[0] == "apis":
		if _, ok := h.versions[parts[1]]; !ok {
			return false
		}
		g := h.apiGroup(parts[1])
		plain.write(w, r, http.StatusOK, &g, nil)
		return true
	case len(parts) == 3 && parts[0] == "apis":
		gv := schema.GroupVersion{Group: parts[1], Version: parts[2]}
		if _, ok := h.byGroupVersion[gv]; !ok {
			return false
		}
		plain.write(w, r, http.StatusOK, h.resourceList(gv), nil)
		return true
	}
	return false
}

func serverAddress(r *http.Request) string {
	host := r.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "443")
	}
	return host
}
