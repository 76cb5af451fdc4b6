package envvars

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// objects is an in-memory Objects.
type objects struct {
	cms      map[string]*corev1.ConfigMap
	secrets  map[string]*corev1.Secret
	services map[string][]*corev1.Service
}

func (o *objects) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if cm, ok := o.cms[ns+"/"+name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (o *objects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (o *objects) Services(_ context.Context, ns string) ([]*corev1.Service, error) {
	return o.services[ns], nil
}

func testObjects() *objects {
	return &objects{
		cms:     map[string]*corev1.ConfigMap{"ns/cfg": {Data: map[string]string{"color": "blue", "size": "L"}}},
		secrets: map[string]*corev1.Secret{"ns/sec": {Data: map[string][]byte{"password": []byte("s3cret")}}},
		services: map[string][]*corev1.Service{
			"default": {{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1",
				Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}}}},
			"ns": {
				{ObjectMeta: metav1.ObjectMeta{Name: "my-svc"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.9",
					Ports: []corev1.ServicePort{{Port: 80}}}},
				{ObjectMeta: metav1.ObjectMeta{Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: "None",
					Ports: []corev1.ServicePort{{Port: 80}}}},
			},
		},
	}
}

func TestResolve(t *testing.T) {
	optional := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "x"}},
		Spec:       corev1.PodSpec{NodeName: "node-1"},
	}
	c := &corev1.Container{
		Name: "c",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}},
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		Env: []corev1.EnvVar{
			{Name: "A", Value: "1"},
			{Name: "B", Value: "$(A)-$(NOPE)-$$(A)"},
			{Name: "COLOR", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "color"}}},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "password"}}},
			{Name: "GONE", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k", Optional: &optional}}},
			{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "MEM_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "CPU_M", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}}},
			{Name: "CPU_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
		},
	}
	p := Pod{Pod: pod, HostIP: "172.18.0.2", PodIPs: []string{"10.244.1.5"},
		NodeAllocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
	kvs, err := Resolve(t.Context(), testObjects(), p, c)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range kvs {
		got[kv.Key] = string(kv.Value)
	}
	for k, want := range map[string]string{
		"A": "1", "B": "1-$(NOPE)-$(A)", "COLOR": "blue", "PW": "s3cret", "NODE": "node-1", "APP": "x",
		"POD_IP": "10.244.1.5", "MEM_MI": "64", "CPU_M": "250", "CPU_LIMIT": "2",
		"CFG_color": "blue", "CFG_size": "L",
		"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_SERVICE_PORT_HTTPS": "443",
		"KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443", "MY_SVC_SERVICE_HOST": "10.96.0.9", "MY_SVC_PORT": "tcp://10.96.0.9:80",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	for _, k := range []string{"GONE", "HEADLESS_SERVICE_HOST"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s set", k)
		}
	}
	if kvs[len(kvs)-1].Key != "CPU_LIMIT" {
		t.Errorf("env order lost: last is %s", kvs[len(kvs)-1].Key)
	}
}

func TestResolveErrors(t *testing.T) {
	off := false
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{EnableServiceLinks: &off}}
	for _, tc := range []struct {
		name string
		env  corev1.EnvVar
		want string
	}{
		{"missing configmap", corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}, `configmap "nope" not found`},
		{"missing key", corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "k"}}}, "couldn't find key k in ConfigMap ns/cfg"},
		{"missing secret", corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}, `secret "nope" not found`},
		{"bad field", corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nope"}}}, "unsupported fieldPath"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Resolve(t.Context(), testObjects(), Pod{Pod: pod}, &corev1.Container{Name: "c", Env: []corev1.EnvVar{tc.env}})
			if err == nil || !IsConfigError(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a config error with %q", err, tc.want)
			}
		})
	}
}

func TestFieldValueMaps(t *testing.T) {
	p := Pod{Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"b": "2", "a": "1"}}}}
	if got, _ := FieldValue(p, "metadata.labels"); got != "a=\"1\"\nb=\"2\"" {
		t.Errorf("labels = %q", got)
	}
}
