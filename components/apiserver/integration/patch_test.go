package integration

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

func TestPatch(t *testing.T) {
	cp := start(t)
	ns := newNamespace(t, cp.Client, "patch")
	t.Run("json patch", func(t *testing.T) { testJSONPatch(t, cp, ns) })
	t.Run("merge patch", func(t *testing.T) { testMergePatch(t, cp, ns) })
	t.Run("strategic merge patch", func(t *testing.T) { testStrategicMergePatch(t, cp, ns) })
	t.Run("status", func(t *testing.T) { testStatusPatch(t, cp, ns) })
	t.Run("server-side apply", func(t *testing.T) { testServerSideApply(t, cp, ns) })
}

func newConfigMap(t *testing.T, cp controlPlane, ns, name string, data map[string]string) *corev1.ConfigMap {
	t.Helper()
	cm, err := cp.Client.CoreV1().ConfigMaps(ns).Create(t.Context(),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func testJSONPatch(t *testing.T, cp controlPlane, ns string) {
	ctx := t.Context()
	cms := cp.Client.CoreV1().ConfigMaps(ns)
	newConfigMap(t, cp, ns, "json", map[string]string{"a": "1", "b": "2"})
	patch := `[{"op":"replace","path":"/data/a","value":"10"},{"op":"remove","path":"/data/b"},{"op":"add","path":"/metadata/labels","value":{"l":"v"}}]`
	got, err := cms.Patch(ctx, "json", types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["a"] != "10" || got.Data["b"] != "" || got.Labels["l"] != "v" {
		t.Errorf("json patch result data %v labels %v", got.Data, got.Labels)
	}
	// A dry-run patch answers with the result and stores nothing.
	dry, err := cms.Patch(ctx, "json", types.JSONPatchType, []byte(`[{"op":"replace","path":"/data/a","value":"dry"}]`),
		metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || dry.Data["a"] != "dry" {
		t.Fatalf("dry-run patch: %v %v", err, dry)
	}
	if cur, err := cms.Get(ctx, "json", metav1.GetOptions{}); err != nil || cur.Data["a"] != "10" || cur.ResourceVersion != got.ResourceVersion {
		t.Errorf("dry-run patch was stored: %v %v", err, cur)
	}
	// A failing test operation is 422.
	_, err = cms.Patch(ctx, "json", types.JSONPatchType, []byte(`[{"op":"test","path":"/data/a","value":"nope"}]`), metav1.PatchOptions{})
	wantStatus(t, err, 422, metav1.StatusReasonInvalid)
	// A malformed patch is 400.
	_, err = cms.Patch(ctx, "json", types.JSONPatchType, []byte(`{"op":"add"}`), metav1.PatchOptions{})
	wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
	// Patching a missing object is 404.
	_, err = cms.Patch(ctx, "missing", types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
	wantStatus(t, err, 404, metav1.StatusReasonNotFound)
}

func testMergePatch(t *testing.T, cp controlPlane, ns string) {
	ctx := t.Context()
	deps := cp.Client.AppsV1().Deployments(ns)
	if _, err := deps.Create(ctx, testDeployment("merge"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A JSON merge patch replaces lists wholesale.
	patch := `{"metadata":{"annotations":{"a":"b"}},"spec":{"template":{"spec":{"containers":[{"name":"other","image":"nginx"}]}}}}`
	got, err := deps.Patch(ctx, "merge", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cs := got.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "other" || got.Annotations["a"] != "b" {
		t.Errorf("merge patch: containers %v annotations %v; want only other", containerNames(cs), got.Annotations)
	}
	if cs[0].ImagePullPolicy != corev1.PullAlways || cs[0].TerminationMessagePath == "" {
		t.Errorf("merge-patched container not defaulted: %+v", cs[0])
	}
	if got.Generation != 2 {
		t.Errorf("generation after a spec patch %d, want 2", got.Generation)
	}
	// null deletes a key.
	got, err = deps.Patch(ctx, "merge", types.MergePatchType, []byte(`{"metadata":{"annotations":{"a":null}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Annotations["a"]; ok || got.Generation != 2 {
		t.Errorf("after removing an annotation: annotations %v generation %d", got.Annotations, got.Generation)
	}
	// A patch with an invalid result is 422.
	_, err = deps.Patch(ctx, "merge", types.MergePatchType, []byte(`{"spec":{"replicas":-1}}`), metav1.PatchOptions{})
	se := wantStatus(t, err, 422, metav1.StatusReasonInvalid)
	if !hasCause(se, "spec.replicas") {
		t.Errorf("causes %+v lack spec.replicas", se.ErrStatus.Details)
	}
}

func testStrategicMergePatch(t *testing.T, cp controlPlane, ns string) {
	ctx := t.Context()
	deps := cp.Client.AppsV1().Deployments(ns)
	d := testDeployment("smp")
	d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "1"}}
	if _, err := deps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Containers merge by name: main keeps its env, sidecar is added.
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"nginx:1.27"},{"name":"sidecar","image":"busybox:1.36"}]}}}}`
	got, err := deps.Patch(ctx, "smp", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cs := got.Spec.Template.Spec.Containers
	if len(cs) != 2 {
		t.Fatalf("strategic merge patch: containers %v, want main and sidecar", containerNames(cs))
	}
	main := findContainer(cs, "main")
	if main == nil || main.Image != "nginx:1.27" || len(main.Env) != 1 || main.Env[0].Name != "A" {
		t.Errorf("main container after patch: %+v", main)
	}
	if findContainer(cs, "sidecar") == nil {
		t.Errorf("sidecar missing: %v", containerNames(cs))
	}
	// $patch: delete removes one element by its merge key.
	patch = `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}`
	got, err = deps.Patch(ctx, "smp", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if names := containerNames(got.Spec.Template.Spec.Containers); len(names) != 1 || names[0] != "main" {
		t.Errorf("after $patch delete: containers %v", names)
	}
	// Custom resources and unknown patch types are refused: text/plain is 415.
	resp := do(t, cp.Config, "PATCH", "/apis/apps/v1/namespaces/"+ns+"/deployments/smp", []byte(`{}`), "Content-Type", "text/plain")
	if resp.code != 415 || resp.status(t).Reason != metav1.StatusReasonUnsupportedMediaType {
		t.Errorf("PATCH with text/plain: %d %s", resp.code, resp.body)
	}
}

func testStatusPatch(t *testing.T, cp controlPlane, ns string) {
	ctx := t.Context()
	deps := cp.Client.AppsV1().Deployments(ns)
	if _, err := deps.Create(ctx, testDeployment("status-patch"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := `{"spec":{"replicas":7},"status":{"replicas":3,"availableReplicas":2}}`
	got, err := deps.Patch(ctx, "status-patch", types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Replicas != 3 || got.Status.AvailableReplicas != 2 || *got.Spec.Replicas != 2 || got.Generation != 1 {
		t.Errorf("status patch: status %d/%d spec.replicas %d generation %d; want 3/2, 2, 1",
			got.Status.Replicas, got.Status.AvailableReplicas, *got.Spec.Replicas, got.Generation)
	}
	// The main resource ignores a status patch.
	got, err = deps.Patch(ctx, "status-patch", types.MergePatchType, []byte(`{"status":{"replicas":9}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Replicas != 3 {
		t.Errorf("main resource patched status.replicas to %d", got.Status.Replicas)
	}
}

func testServerSideApply(t *testing.T, cp controlPlane, ns string) {
	ctx := t.Context()
	cms := cp.Client.CoreV1().ConfigMaps(ns)
	alice := corev1ac.ConfigMap("applied", ns).WithData(map[string]string{"shared": "alice", "mine": "a"})
	got, err := cms.Apply(ctx, alice, metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatalf("create through apply: %v", err)
	}
	if got.UID == "" || got.Data["shared"] != "alice" {
		t.Fatalf("applied object %+v", got)
	}
	if e := managedEntry(got.ManagedFields, "alice"); e == nil || e.Operation != metav1.ManagedFieldsOperationApply ||
		!containsField(e, "f:shared") || !containsField(e, "f:mine") {
		t.Errorf("managedFields %+v lack an Apply entry for alice", got.ManagedFields)
	}

	// An update by another client is recorded as Update.
	got.Labels = map[string]string{"by": "kubectl"}
	got, err = cms.Update(ctx, got, metav1.UpdateOptions{FieldManager: "editor"})
	if err != nil {
		t.Fatal(err)
	}
	if e := managedEntry(got.ManagedFields, "editor"); e == nil || e.Operation != metav1.ManagedFieldsOperationUpdate {
		t.Errorf("managedFields %+v lack an Update entry for editor", got.ManagedFields)
	}

	bob := corev1ac.ConfigMap("applied", ns).WithData(map[string]string{"shared": "bob"})
	_, err = cms.Apply(ctx, bob, metav1.ApplyOptions{FieldManager: "bob"})
	se := wantStatus(t, err, 409, metav1.StatusReasonConflict)
	var conflict *metav1.StatusCause
	if se.ErrStatus.Details != nil {
		for i, c := range se.ErrStatus.Details.Causes {
			if c.Type == metav1.CauseTypeFieldManagerConflict {
				conflict = &se.ErrStatus.Details.Causes[i]
			}
		}
	}
	if conflict == nil || conflict.Field != ".data.shared" {
		t.Errorf("apply conflict causes %+v, want a FieldManagerConflict on .data.shared", se.ErrStatus.Details)
	}

	got, err = cms.Apply(ctx, bob, metav1.ApplyOptions{FieldManager: "bob", Force: true})
	if err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	if got.Data["shared"] != "bob" || got.Data["mine"] != "a" {
		t.Errorf("after forced apply data %v, want shared=bob mine=a", got.Data)
	}
	if e := managedEntry(got.ManagedFields, "alice"); e == nil || containsField(e, "f:shared") || !containsField(e, "f:mine") {
		t.Errorf("alice should keep mine and lose shared: %+v", e)
	}
	if e := managedEntry(got.ManagedFields, "bob"); e == nil || !containsField(e, "f:shared") {
		t.Errorf("bob should own shared: %+v", e)
	}

	// Alice applying without mine removes the field she alone owns.
	alice = corev1ac.ConfigMap("applied", ns).WithData(map[string]string{"other": "x"})
	got, err = cms.Apply(ctx, alice, metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Data["mine"]; ok || got.Data["shared"] != "bob" || got.Data["other"] != "x" {
		t.Errorf("after alice's second apply data %v, want shared=bob other=x", got.Data)
	}

	// Apply requires a field manager; force is only for apply.
	resp := do(t, cp.Config, "PATCH", "/api/v1/namespaces/"+ns+"/configmaps/applied", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied"}}`),
		"Content-Type", "application/apply-patch+yaml")
	if resp.code != 400 {
		t.Errorf("apply without fieldManager: %d %s, want 400", resp.code, resp.body)
	}

	// Server-side apply also works through the deployment's typed client.
	dep := testDeployment("applied")
	dep.APIVersion, dep.Kind = "apps/v1", "Deployment"
	body, _ := json.Marshal(dep)
	resp = do(t, cp.Config, "PATCH", "/apis/apps/v1/namespaces/"+ns+"/deployments/applied?fieldManager=test", body,
		"Content-Type", "application/apply-patch+yaml")
	if resp.code != 201 {
		t.Errorf("apply-create of a deployment: %d %s, want 201", resp.code, resp.body)
	}
	d, err := cp.Client.AppsV1().Deployments(ns).Get(ctx, "applied", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Generation != 1 {
		t.Errorf("applied deployment not defaulted: strategy %q generation %d", d.Spec.Strategy.Type, d.Generation)
	}
}

func managedEntry(mf []metav1.ManagedFieldsEntry, manager string) *metav1.ManagedFieldsEntry {
	for i := range mf {
		if mf[i].Manager == manager {
			return &mf[i]
		}
	}
	return nil
}

func containsField(e *metav1.ManagedFieldsEntry, f string) bool {
	return e.FieldsV1 != nil && strings.Contains(string(e.FieldsV1.Raw), `"`+f+`"`)
}

func containerNames(cs []corev1.Container) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func findContainer(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}
