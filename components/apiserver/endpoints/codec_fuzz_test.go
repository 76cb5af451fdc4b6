package endpoints

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// fuzzTargets are the types request bodies are decoded into.
var fuzzTargets = []func() runtime.Object{
	func() runtime.Object { return &corev1.Pod{} },
	func() runtime.Object { return &appsv1.Deployment{} },
	func() runtime.Object { return &corev1.ConfigMap{} },
	func() runtime.Object { return &corev1.Service{} },
	func() runtime.Object { return &coordinationv1.Lease{} },
	func() runtime.Object { return &corev1.Binding{} },
	func() runtime.Object { return &policyv1.Eviction{} },
}

// fuzzValidations are the fieldValidation levels a request may ask for.
var fuzzValidations = []string{"", validationIgnore, validationWarn, validationStrict}

const (
	fuzzPodJSON = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"demo","labels":{"app":"web"}},` +
		`"spec":{"containers":[{"name":"web","image":"registry.example/web:1","resources":{"limits":{"cpu":"500m","memory":"128Mi"}}}]}}`
	fuzzDeploymentYAML = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n" +
		"  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n" +
		"    spec:\n      containers:\n      - name: web\n        image: registry.example/web:1\n"
)

// FuzzDecodeBody feeds random bodies with JSON, YAML, protobuf and other
// content types to the request body decoders: they never panic, and either
// decode or fail with a 4xx API error.
func FuzzDecodeBody(f *testing.F) {
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "demo"}, Data: map[string]string{"k": "v"}}
	var proto bytes.Buffer
	if err := protoCodec.Encode(cm, &proto); err != nil {
		f.Fatal(err)
	}
	seeds := []struct {
		contentType string
		target      uint8
		body        string
	}{
		{"application/json", 0, fuzzPodJSON},
		{"application/json; charset=utf-8", 0, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","name":"b"},"spec":{"bogus":1}}`},
		{"application/json", 0, `{"apiVersion":"apps/v1","kind":"Pod"}`},
		{"application/json", 0, `{"apiVersion":"v1","kind":"Deployment"}`},
		{"application/json", 0, `{"kind":"Pod","spec":{"containers":[{"resources":{"limits":{"cpu":"1e1000"}}}]}}`},
		{"application/json", 0, `{"apiVersion":"v1","kind":"Pod","metadata":{"creationTimestamp":"not a time"}}`},
		{"application/json", 2, `{"apiVersion":"v1","kind":"ConfigMap","binaryData":{"b":"!!notbase64"}}`},
		{"application/json", 3, `{"spec":{"ports":[{"port":"80","targetPort":"http"}]}}`},
		{"application/json", 0, `[]`},
		{"application/json", 0, `null`},
		{"", 0, `{"metadata":`},
		{"*/*", 4, `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","spec":{"renewTime":"2026-01-02T03:04:05.000000Z"}}`},
		{"application/yaml", 1, fuzzDeploymentYAML},
		{"application/yaml", 1, "a: &a [*a, *a]\nb: *a\n"},
		{"application/yaml", 1, "apiVersion: apps/v1\nkind: Deployment\nspec: {replicas: 1, replicas: 2}\n---\nkind: x\n"},
		{"application/yaml", 5, "apiVersion: v1\nkind: Binding\nmetadata: {name: p}\ntarget: {kind: Node, name: n}\n"},
		{"application/yaml", 6, "apiVersion: policy/v1\nkind: Eviction\nmetadata: {name: p}\ndeleteOptions: {gracePeriodSeconds: -1}\n"},
		{ContentTypeProtobuf, 2, proto.String()},
		{ContentTypeProtobuf, 0, proto.String()},
		{ContentTypeProtobuf, 2, proto.String()[:proto.Len()/2]},
		{ContentTypeProtobuf, 2, "k8s\x00\x0a\x02\x0a\x00\x12\xff\xff\xff\xff\x0f"},
		{ContentTypeProtobuf, 2, fuzzPodJSON},
		{"text/plain", 0, fuzzPodJSON},
		{"application/json; bad=\"", 0, fuzzPodJSON},
	}
	for i, s := range seeds {
		f.Add(s.contentType, uint8(i), s.target, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, validation, target uint8, body []byte) {
		v := fuzzValidations[int(validation)%len(fuzzValidations)]
		into := fuzzTargets[int(target)%len(fuzzTargets)]()
		r := httptest.NewRequest(http.MethodPost, "/api/v1/namespaces/demo/pods", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		rq := &request{r: r}
		if err := rq.decodeBody(into, v); err != nil {
			check4xx(t, "decodeBody", contentType, body, err)
		} else if _, err := json.Marshal(into); err != nil {
			t.Fatalf("decodeBody(%q, %q) decoded an object that does not encode: %v", contentType, body, err)
		}
		if err := decodeOptions(contentType, body, &metav1.DeleteOptions{}); err != nil {
			check4xx(t, "decodeOptions", contentType, body, err)
		}
	})
}

func check4xx(t *testing.T, what, contentType string, body []byte, err error) {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("%s(%q, %q): %v (%T) is not an API error", what, contentType, body, err, err)
	}
	if code := status.Status().Code; code < 400 || code >= 500 {
		t.Fatalf("%s(%q, %q): %v has code %d, want 4xx", what, contentType, body, err, code)
	}
	if st := StatusFor(err); st.Code != status.Status().Code {
		t.Fatalf("%s(%q, %q): StatusFor(%v) has code %d", what, contentType, body, err, st.Code)
	}
}
