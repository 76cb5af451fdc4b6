package integration

import (
	"encoding/json"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

// getTable reads path (relative to the API root of c) as a Table.
func getTable(t *testing.T, c rest.Interface, ns, resource, name string, params ...string) *metav1.Table {
	t.Helper()
	req := c.Get().Resource(resource).SetHeader("Accept", tableAccept)
	if ns != "" {
		req = req.Namespace(ns)
	}
	if name != "" {
		req = req.Name(name)
	}
	for i := 0; i+1 < len(params); i += 2 {
		req = req.Param(params[i], params[i+1])
	}
	raw, err := req.DoRaw(t.Context())
	if err != nil {
		t.Fatalf("table of %s: %v", resource, err)
	}
	var tbl metav1.Table
	if err := json.Unmarshal(raw, &tbl); err != nil {
		t.Fatalf("table of %s: %v: %s", resource, err, raw)
	}
	if tbl.Kind != "Table" || tbl.APIVersion != "meta.k8s.io/v1" {
		t.Fatalf("table of %s has kind %s/%s", resource, tbl.APIVersion, tbl.Kind)
	}
	return &tbl
}

// columns returns the names of the columns of priority 0 and of priority 1.
func columns(tbl *metav1.Table) (normal, wide []string) {
	for _, c := range tbl.ColumnDefinitions {
		if c.Priority == 0 {
			normal = append(normal, c.Name)
		} else {
			wide = append(wide, c.Name)
		}
	}
	return normal, wide
}

func TestTables(t *testing.T) {
	cp := start(t)
	ctx := t.Context()
	ns := newNamespace(t, cp.Client, "tables")
	core, apps := cp.Client.CoreV1(), cp.Client.AppsV1()
	if _, err := core.Pods(ns).Create(ctx, testPod("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.2"}},
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian", KernelVersion: "6.1", ContainerRuntimeVersion: "containerd://2.4.2"},
		}}
	if _, err := core.Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Services(ns).Create(ctx, testService("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := apps.Deployments(ns).Create(ctx, testDeployment("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		client       rest.Interface
		ns, resource string
		normal, wide []string
		cells        map[string]any // column -> expected cell of the single row
	}{
		{core.RESTClient(), ns, "pods",
			[]string{"Name", "Ready", "Status", "Restarts", "Age"},
			[]string{"IP", "Node", "Nominated Node", "Readiness Gates"},
			map[string]any{"Name": "web", "Ready": "0/1", "Status": "Pending", "Restarts": "0", "IP": "<none>", "Node": "<none>"}},
		{core.RESTClient(), "", "nodes",
			[]string{"Name", "Status", "Roles", "Age", "Version"},
			[]string{"Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"},
			map[string]any{"Name": "node-1", "Status": "Ready", "Roles": "control-plane", "Version": "v1.37.2",
				"Internal-IP": "172.18.0.2", "External-IP": "<none>", "Container-Runtime": "containerd://2.4.2"}},
		{core.RESTClient(), ns, "services",
			[]string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"},
			[]string{"Selector"},
			map[string]any{"Name": "web", "Type": "ClusterIP", "External-IP": "<none>", "Port(s)": "80/TCP", "Selector": "app=test"}},
		{apps.RESTClient(), ns, "deployments",
			[]string{"Name", "Ready", "Up-to-date", "Available", "Age"},
			[]string{"Containers", "Images", "Selector"},
			map[string]any{"Name": "web", "Ready": "0/2", "Up-to-date": float64(0), "Available": float64(0),
				"Containers": "main", "Images": "registry.k8s.io/pause:3.10", "Selector": "app=test"}},
	}
	for _, tc := range cases {
		t.Run(tc.resource, func(t *testing.T) {
			tbl := getTable(t, tc.client, tc.ns, tc.resource, "")
			normal, wide := columns(tbl)
			if !slices.Equal(normal, tc.normal) || !slices.Equal(wide, tc.wide) {
				t.Errorf("columns %v wide %v, want %v wide %v", normal, wide, tc.normal, tc.wide)
			}
			if len(tbl.Rows) != 1 {
				t.Fatalf("%d rows, want 1", len(tbl.Rows))
			}
			row := tbl.Rows[0]
			if len(row.Cells) != len(tbl.ColumnDefinitions) {
				t.Fatalf("row has %d cells for %d columns", len(row.Cells), len(tbl.ColumnDefinitions))
			}
			for i, col := range tbl.ColumnDefinitions {
				if want, ok := tc.cells[col.Name]; ok && row.Cells[i] != want {
					t.Errorf("cell %s = %#v, want %#v", col.Name, row.Cells[i], want)
				}
			}
			if tbl.ColumnDefinitions[0].Format != "name" {
				t.Errorf("the Name column has format %q, want name", tbl.ColumnDefinitions[0].Format)
			}
			// Rows carry the object's metadata by default.
			var pm metav1.PartialObjectMetadata
			if err := json.Unmarshal(row.Object.Raw, &pm); err != nil || pm.Kind != "PartialObjectMetadata" || pm.Name == "" || pm.UID == "" {
				t.Errorf("row object %s (%v), want PartialObjectMetadata", row.Object.Raw, err)
			}
			if tbl.ResourceVersion == "" {
				t.Errorf("table has no resourceVersion")
			}
		})
	}

	t.Run("single object and includeObject", func(t *testing.T) {
		tbl := getTable(t, core.RESTClient(), ns, "pods", "web", "includeObject", "Object")
		if len(tbl.Rows) != 1 || tbl.Rows[0].Cells[0] != "web" {
			t.Fatalf("table of one pod: %+v", tbl.Rows)
		}
		var pod corev1.Pod
		if err := json.Unmarshal(tbl.Rows[0].Object.Raw, &pod); err != nil || pod.Kind != "Pod" || len(pod.Spec.Containers) != 1 {
			t.Errorf("includeObject=Object row %s (%v), want the whole pod", tbl.Rows[0].Object.Raw, err)
		}
		tbl = getTable(t, core.RESTClient(), ns, "pods", "", "includeObject", "None")
		if len(tbl.Rows) != 1 || tbl.Rows[0].Object.Raw != nil {
			t.Errorf("includeObject=None row object %s, want none", tbl.Rows[0].Object.Raw)
		}
	})

	t.Run("metadata client", func(t *testing.T) { testMetadataClient(t, cp, ns) })
}

func testMetadataClient(t *testing.T, cp controlPlane, ns string) {
	ctx := t.Context()
	mc, err := metadata.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	pods := mc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).Namespace(ns)
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("metadata list: %v", err)
	}
	if list.ResourceVersion == "" || len(list.Items) != 1 {
		t.Fatalf("metadata list rv %q items %d", list.ResourceVersion, len(list.Items))
	}
	resp := do(t, cp.Config, "GET", "/api/v1/namespaces/"+ns+"/pods", nil,
		"Accept", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
	var raw metav1.PartialObjectMetadataList
	if err := json.Unmarshal(resp.body, &raw); err != nil || resp.code != 200 || raw.Kind != "PartialObjectMetadataList" || raw.APIVersion != "meta.k8s.io/v1" {
		t.Errorf("raw metadata list: %d %v %s", resp.code, err, resp.body)
	}
	item := list.Items[0]
	if item.Name != "web" || item.Namespace != ns || item.UID == "" || item.Labels["app"] != "test" || item.Kind != "PartialObjectMetadata" {
		t.Errorf("metadata item %+v", item)
	}
	one, err := mc.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("metadata get: %v", err)
	}
	if one.Name != "web" || one.Generation != 1 {
		t.Errorf("metadata get %+v", one)
	}
	nodes, err := mc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}).List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Errorf("metadata list of nodes: %v %v", err, nodes)
	}
	_, err = pods.Get(ctx, "missing", metav1.GetOptions{})
	wantStatus(t, err, 404, metav1.StatusReasonNotFound)
}
