package integration

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
)

func TestDiscovery(t *testing.T) {
	cp := start(t)

	t.Run("legacy documents", func(t *testing.T) {
		resp := do(t, cp.Config, "GET", "/api", nil, "Accept", "application/json")
		var versions metav1.APIVersions
		if err := json.Unmarshal(resp.body, &versions); err != nil || resp.code != 200 || !slices.Equal(versions.Versions, []string{"v1"}) || versions.Kind != "APIVersions" {
			t.Errorf("/api: %d %v %s", resp.code, err, resp.body)
		}
		resp = do(t, cp.Config, "GET", "/apis", nil, "Accept", "application/json")
		var groups metav1.APIGroupList
		if err := json.Unmarshal(resp.body, &groups); err != nil || resp.code != 200 {
			t.Fatalf("/apis: %d %v %s", resp.code, err, resp.body)
		}
		want := map[string]string{"apps": "v1", "batch": "v1", "coordination.k8s.io": "v1", "discovery.k8s.io": "v1", "events.k8s.io": "v1"}
		for _, g := range groups.Groups {
			if v, ok := want[g.Name]; ok && g.PreferredVersion.Version == v {
				delete(want, g.Name)
			}
		}
		if len(want) != 0 {
			t.Errorf("/apis lacks %v: %s", want, resp.body)
		}
		resp = do(t, cp.Config, "GET", "/apis/apps/v1", nil)
		var rl metav1.APIResourceList
		if err := json.Unmarshal(resp.body, &rl); err != nil || rl.GroupVersion != "apps/v1" {
			t.Errorf("/apis/apps/v1: %v %s", err, resp.body)
		}
	})

	t.Run("aggregated", func(t *testing.T) {
		for _, path := range []string{"/api", "/apis"} {
			resp := do(t, cp.Config, "GET", path, nil, "Accept",
				"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
			if ct := resp.header.Get("Content-Type"); !strings.Contains(ct, "as=APIGroupDiscoveryList") || !strings.Contains(ct, "v=v2") {
				t.Errorf("%s aggregated Content-Type %q", path, ct)
			}
			var list apidiscoveryv2.APIGroupDiscoveryList
			if err := json.Unmarshal(resp.body, &list); err != nil || list.Kind != "APIGroupDiscoveryList" || len(list.Items) == 0 {
				t.Errorf("%s aggregated: %v %.300s", path, err, resp.body)
			}
		}
	})

	t.Run("client-go discovery", func(t *testing.T) {
		dc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
		if err != nil {
			t.Fatal(err)
		}
		_, lists, err := dc.ServerGroupsAndResources()
		if err != nil {
			t.Fatalf("ServerGroupsAndResources: %v", err)
		}
		found := map[string]metav1.APIResource{}
		for _, l := range lists {
			for _, r := range l.APIResources {
				found[l.GroupVersion+" "+r.Name] = r
			}
		}
		want := []string{
			"v1 namespaces", "v1 namespaces/status", "v1 namespaces/finalize", "v1 pods", "v1 pods/status", "v1 pods/binding", "v1 pods/eviction",
			"v1 nodes", "v1 nodes/status", "v1 services", "v1 services/status", "v1 endpoints", "v1 configmaps", "v1 secrets",
			"v1 serviceaccounts", "v1 events", "v1 replicationcontrollers", "v1 replicationcontrollers/scale",
			"apps/v1 deployments", "apps/v1 deployments/scale", "apps/v1 deployments/status", "apps/v1 replicasets",
			"apps/v1 replicasets/scale", "apps/v1 daemonsets", "batch/v1 jobs", "batch/v1 jobs/status",
			"coordination.k8s.io/v1 leases", "discovery.k8s.io/v1 endpointslices", "events.k8s.io/v1 events",
		}
		for _, w := range want {
			if _, ok := found[w]; !ok {
				t.Errorf("discovery lacks %s", w)
			}
		}
		if r := found["v1 pods"]; !r.Namespaced || !slices.Contains(r.ShortNames, "po") || !slices.Contains(r.Verbs, "watch") || r.Kind != "Pod" {
			t.Errorf("v1 pods in discovery: %+v", r)
		}
		if r := found["apps/v1 deployments/scale"]; r.Kind != "Scale" || r.Group != "autoscaling" || r.Version != "v1" {
			t.Errorf("deployments/scale in discovery: %+v", r)
		}
		if r := found["v1 nodes"]; r.Namespaced {
			t.Errorf("nodes are namespaced in discovery")
		}

		cached := memory.NewMemCacheClient(dc)
		mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, func(string) {})
		for short, want := range map[string]schema.GroupVersionKind{
			"deploy": {Group: "apps", Version: "v1", Kind: "Deployment"},
			"po":     {Version: "v1", Kind: "Pod"},
			"svc":    {Version: "v1", Kind: "Service"},
		} {
			gvk, err := mapper.KindFor(schema.GroupVersionResource{Resource: short})
			if err != nil || gvk != want {
				t.Errorf("RESTMapper %s: %v %v, want %v", short, gvk, err, want)
			}
		}
	})

	t.Run("openapi v3", func(t *testing.T) {
		paths, err := cp.Client.Discovery().OpenAPIV3().Paths()
		if err != nil {
			t.Fatalf("/openapi/v3: %v", err)
		}
		for _, p := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1"} {
			gv, ok := paths[p]
			if !ok {
				t.Errorf("/openapi/v3 lacks %s", p)
				continue
			}
			doc, err := gv.Schema("application/json")
			if err != nil || !strings.Contains(string(doc), `"openapi"`) {
				t.Errorf("openapi schema of %s: %v %.200s", p, err, doc)
			}
		}
	})
}
