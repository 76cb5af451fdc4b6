package registry_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelab/kubelab/components/apiserver/registry"
)

// fuzzPod is the original every fuzzed patch applies to.
const fuzzPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"demo","uid":"0b4f7e9c-1d2a-4c3b-9e8f-7a6b5c4d3e2f",` +
	`"resourceVersion":"42","labels":{"app":"web"},"annotations":{"note":"a"},"finalizers":["example.com/f"]},` +
	`"spec":{"containers":[{"name":"web","image":"registry.example/web:1","ports":[{"containerPort":8080,"protocol":"TCP"}],` +
	`"env":[{"name":"MODE","value":"prod"}],"resources":{"limits":{"cpu":"500m","memory":"128Mi"}},` +
	`"volumeMounts":[{"name":"data","mountPath":"/data"}]},{"name":"sidecar","image":"registry.example/sidecar:1"}],` +
	`"volumes":[{"name":"data","emptyDir":{}}],"tolerations":[{"key":"k","operator":"Exists"}],` +
	`"restartPolicy":"Always","dnsPolicy":"ClusterFirst"},"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False"}]}}`

// patchTypes are the types a PATCH may name, including the apply types
// ApplyPatch does not handle and one no client sends.
var patchTypes = []types.PatchType{
	types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType,
	types.ApplyYAMLPatchType, types.ApplyCBORPatchType, "application/unknown",
}

// FuzzPatch applies random patches of each type to a valid pod: ApplyPatch
// never panics, fails only with 4xx API errors and otherwise returns JSON.
func FuzzPatch(f *testing.F) {
	seeds := []struct {
		pt    int
		patch string
	}{
		{0, `[{"op":"replace","path":"/spec/containers/0/image","value":"registry.example/web:2"}]`},
		{0, `[{"op":"add","path":"/metadata/labels/tier","value":"frontend"},{"op":"remove","path":"/metadata/annotations/note"}]`},
		{0, `[{"op":"test","path":"/metadata/resourceVersion","value":"41"}]`},
		{0, `[{"op":"move","from":"/spec/containers/1","path":"/spec/containers/0"},{"op":"copy","from":"/metadata/labels","path":"/metadata/annotations"}]`},
		{0, `[{"op":"add","path":"/spec/containers/-","value":{"name":"x","image":"y"}},{"op":"remove","path":"/spec/containers/-1"}]`},
		{0, `[{"op":"remove","path":"/metadata/finalizers"}]`},
		{0, `[{"op":"copy","from":"/spec","path":"/spec/a"},{"op":"copy","from":"/spec","path":"/spec/b"},{"op":"copy","from":"/spec","path":"/spec/c"}]`},
		{0, `[{"op":"bogus"}]`},
		{0, `{"op":"replace"}`},
		{1, `{"metadata":{"labels":{"app":null,"tier":"frontend"}},"spec":{"containers":[{"name":"only","image":"i"}]}}`},
		{1, `{"spec":{"restartPolicy":null}}`},
		{1, `null`},
		{1, `[1,2]`},
		{2, `{"spec":{"containers":[{"name":"sidecar","image":"registry.example/sidecar:2"}]}}`},
		{2, `{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"web"}],"containers":[{"name":"web","env":[{"name":"MODE","$patch":"delete"}]}]}}`},
		{2, `{"metadata":{"$deleteFromPrimitiveList/finalizers":["example.com/f"]},"spec":{"volumes":[{"name":"data","$patch":"delete"}]}}`},
		{2, `{"spec":{"$retainKeys":["containers"],"containers":[{"name":"web","$patch":"replace","image":"x"}]}}`},
		{2, `{"spec":{"tolerations":[{"$patch":"replace"}],"containers":{"$patch":"merge"}}}`},
		{2, `{"$patch":"delete"}`},
		{2, `{"spec":{"containers":[{"image":"no-name"}]}}`},
		{3, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"},
		{5, `{}`},
	}
	for _, s := range seeds {
		f.Add(uint8(s.pt), []byte(s.patch))
	}
	f.Fuzz(func(t *testing.T, which uint8, patch []byte) {
		pt := patchTypes[int(which)%len(patchTypes)]
		out, err := registry.ApplyPatch(pt, []byte(fuzzPod), patch, &corev1.Pod{})
		if err != nil {
			var status apierrors.APIStatus
			if !errors.As(err, &status) {
				t.Fatalf("%s patch %q: error %v (%T) is not an API error", pt, patch, err, err)
			}
			if code := status.Status().Code; code < 400 || code >= 500 {
				t.Fatalf("%s patch %q: error %v has code %d, want 4xx", pt, patch, err, code)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("%s patch %q: result is not JSON: %q", pt, patch, out)
		}
	})
}

// TestApplyPatchCopyLimit checks that JSON patch copy operations cannot
// grow an object without bound: each copy below doubles the spec.
func TestApplyPatchCopyLimit(t *testing.T) {
	ops := make([]string, 0, 14)
	for i := range cap(ops) {
		ops = append(ops, fmt.Sprintf(`{"op":"copy","from":"/spec","path":"/spec/c%d"}`, i))
	}
	patch := "[" + strings.Join(ops, ",") + "]"
	out, err := registry.ApplyPatch(types.JSONPatchType, []byte(fuzzPod), []byte(patch), &corev1.Pod{})
	if err == nil {
		t.Fatalf("a JSON patch of %d doubling copies succeeded (%d bytes); want it refused", len(ops), len(out))
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Code != 422 {
		t.Fatalf("doubling copies: %v, want a 422 API error", err)
	}
	// A modest copy still works.
	if _, err := registry.ApplyPatch(types.JSONPatchType, []byte(fuzzPod), []byte(`[{"op":"copy","from":"/metadata/labels","path":"/metadata/annotations"}]`), &corev1.Pod{}); err != nil {
		t.Fatalf("one small copy: %v", err)
	}
}
