package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", ResourceVersion: "1"}
}

func TestValidateConfigMap(t *testing.T) {
	tests := []struct {
		name string
		cm   corev1.ConfigMap
		want []want
	}{
		{name: "valid", cm: corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"app.properties": "a=b", ".hidden": "x"},
			BinaryData: map[string][]byte{"logo.png": {1}}}},
		{name: "bad name", cm: corev1.ConfigMap{ObjectMeta: meta("CFG")}, want: []want{isInvalid("metadata.name")}},
		{name: "bad key", cm: corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"a/b": ""}}, want: []want{isInvalid("data[a/b]")}},
		{name: "bad binary key", cm: corev1.ConfigMap{ObjectMeta: meta("cfg"), BinaryData: map[string][]byte{"..": nil}}, want: []want{isInvalid("binaryData[..]")}},
		{name: "key in both", cm: corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"k": ""}, BinaryData: map[string][]byte{"k": nil}},
			want: []want{isInvalid("data[k]")}},
		{name: "too large", cm: corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"big": strings.Repeat("x", corev1.MaxSecretSize+1)}},
			want: []want{isTooLong("[]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, ValidateConfigMap(&tt.cm), tt.want...)
		})
	}
}

func TestValidateConfigMapUpdate(t *testing.T) {
	locked := corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"k": "v"}, Immutable: ptr.To(true)}
	tests := []struct {
		name   string
		old    corev1.ConfigMap
		mutate func(*corev1.ConfigMap)
		want   []want
	}{
		{name: "mutable data changes", old: corev1.ConfigMap{ObjectMeta: meta("cfg")}, mutate: func(c *corev1.ConfigMap) { c.Data = map[string]string{"k": "v"} }},
		{name: "immutable labels change", old: locked, mutate: func(c *corev1.ConfigMap) { c.Labels = map[string]string{"a": "b"} }},
		{name: "immutable data change", old: locked, mutate: func(c *corev1.ConfigMap) { c.Data["k"] = "w" }, want: []want{isForbidden("data")}},
		{name: "immutable unset", old: locked, mutate: func(c *corev1.ConfigMap) { c.Immutable = ptr.To(false) }, want: []want{isForbidden("immutable")}},
		{name: "immutable binary data added", old: locked, mutate: func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"b": {1}} },
			want: []want{isForbidden("binaryData")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := tt.old.DeepCopy()
			tt.mutate(cm)
			errs := ValidateConfigMapUpdate(cm, &tt.old)
			expect(t, errs, tt.want...)
			if len(tt.want) > 0 {
				expectMessage(t, errs, "field is immutable when `immutable` is set")
			}
		})
	}
}

func TestValidateSecret(t *testing.T) {
	secret := func(typ corev1.SecretType, data map[string][]byte) corev1.Secret {
		return corev1.Secret{ObjectMeta: meta("s"), Type: typ, Data: data}
	}
	tests := []struct {
		name string
		s    corev1.Secret
		want []want
	}{
		{name: "opaque", s: secret(corev1.SecretTypeOpaque, map[string][]byte{"password": []byte("x")})},
		{name: "tls", s: secret(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": nil, "tls.key": nil})},
		{name: "tls without key", s: secret(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": nil}), want: []want{isRequired("data[tls.key]")}},
		{name: "tls without anything", s: secret(corev1.SecretTypeTLS, nil), want: []want{isRequired("data[tls.crt]"), isRequired("data[tls.key]")}},
		{name: "docker config json", s: secret(corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)})},
		{name: "docker config json missing", s: secret(corev1.SecretTypeDockerConfigJson, nil), want: []want{isRequired("data[.dockerconfigjson]")}},
		{name: "docker config json not json", s: secret(corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte("{")}),
			want: []want{isInvalid("data[.dockerconfigjson]")}},
		{name: "basic auth empty", s: secret(corev1.SecretTypeBasicAuth, nil), want: []want{isRequired("data[username]"), isRequired("data[password]")}},
		{name: "ssh auth empty", s: secret(corev1.SecretTypeSSHAuth, nil), want: []want{isRequired("data[ssh-privatekey]")}},
		{name: "service account token without annotation", s: secret(corev1.SecretTypeServiceAccountToken, nil),
			want: []want{isRequired("metadata.annotations[kubernetes.io/service-account.name]")}},
		{name: "bad key", s: secret(corev1.SecretTypeOpaque, map[string][]byte{"a b": nil}), want: []want{isInvalid("data[a b]")}},
		{name: "too large", s: secret(corev1.SecretTypeOpaque, map[string][]byte{"k": make([]byte, corev1.MaxSecretSize+1)}), want: []want{isTooLong("data")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, ValidateSecret(&tt.s), tt.want...)
		})
	}
}

func TestValidateSecretUpdate(t *testing.T) {
	old := corev1.Secret{ObjectMeta: meta("s"), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte("v")}}
	locked := *old.DeepCopy()
	locked.Immutable = ptr.To(true)
	tests := []struct {
		name   string
		old    corev1.Secret
		mutate func(*corev1.Secret)
		want   []want
	}{
		{name: "data change", old: old, mutate: func(s *corev1.Secret) { s.Data["k"] = []byte("w") }},
		{name: "type change", old: old, mutate: func(s *corev1.Secret) { s.Type = "example.com/custom" }, want: []want{isInvalid("type")}},
		{name: "immutable data change", old: locked, mutate: func(s *corev1.Secret) { s.Data["k"] = []byte("w") }, want: []want{isForbidden("data")}},
		{name: "immutable cleared", old: locked, mutate: func(s *corev1.Secret) { s.Immutable = nil }, want: []want{isForbidden("immutable")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.old.DeepCopy()
			tt.mutate(s)
			expect(t, ValidateSecretUpdate(s, &tt.old), tt.want...)
		})
	}
}

func TestValidateNamespace(t *testing.T) {
	ns := func(name string, finalizers ...corev1.FinalizerName) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"}, Spec: corev1.NamespaceSpec{Finalizers: finalizers}}
	}
	tests := []struct {
		name string
		ns   *corev1.Namespace
		want []want
	}{
		{name: "valid", ns: ns("team-a", corev1.FinalizerKubernetes, "example.com/cleanup")},
		{name: "subdomain is not a label", ns: ns("team.a"), want: []want{isInvalid("metadata.name")}},
		{name: "namespaced namespace", ns: func() *corev1.Namespace { n := ns("team-a"); n.Namespace = "default"; return n }(),
			want: []want{isForbidden("metadata.namespace")}},
		{name: "unqualified finalizer", ns: ns("team-a", "cleanup"), want: []want{isInvalid("spec.finalizers")}},
		{name: "unqualified metadata finalizer", ns: func() *corev1.Namespace { n := ns("team-a"); n.Finalizers = []string{"cleanup"}; return n }(),
			want: []want{isInvalid("metadata.finalizers[0]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, ValidateNamespace(tt.ns), tt.want...)
		})
	}
	t.Run("update keeps name", func(t *testing.T) {
		old := ns("team-a")
		n := old.DeepCopy()
		n.Name = "team-b"
		expect(t, ValidateNamespaceUpdate(n, old), isInvalid("metadata.name"))
	})
}

func TestValidateServiceAccount(t *testing.T) {
	tests := []struct {
		name string
		sa   corev1.ServiceAccount
		want []want
	}{
		{name: "valid", sa: corev1.ServiceAccount{ObjectMeta: meta("builder")}},
		{name: "bad name", sa: corev1.ServiceAccount{ObjectMeta: meta("Builder")}, want: []want{isInvalid("metadata.name")}},
		{name: "no namespace", sa: corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, want: []want{isRequired("metadata.namespace")}},
		{name: "generateName only", sa: corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{GenerateName: "b-", Namespace: "default"}},
			want: []want{isRequired("metadata.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, ValidateServiceAccount(&tt.sa), tt.want...)
			if len(tt.want) == 0 {
				expect(t, ValidateServiceAccountUpdate(&tt.sa, &tt.sa))
			}
		})
	}
}
