package volumes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubelab/kubelab/components/kubelet/envvars"
)

type objects struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
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

func (o *objects) Services(context.Context, string) ([]*corev1.Service, error) { return nil, nil }

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "v")
	changed, err := writeAtomic(dir, map[string]File{"a": {Data: []byte("1"), Mode: 0o644}, "sub/b": {Data: []byte("2"), Mode: 0o600}})
	if err != nil || !changed {
		t.Fatalf("first write: %v %v", changed, err)
	}
	if read(t, filepath.Join(dir, "a")) != "1" || read(t, filepath.Join(dir, "sub/b")) != "2" {
		t.Fatal("payload not readable through the links")
	}
	if changed, err := writeAtomic(dir, map[string]File{"a": {Data: []byte("1"), Mode: 0o644}, "sub/b": {Data: []byte("2"), Mode: 0o600}}); err != nil || changed {
		t.Fatalf("same payload rewritten: %v %v", changed, err)
	}
	if changed, err := writeAtomic(dir, map[string]File{"a": {Data: []byte("3"), Mode: 0o644}}); err != nil || !changed {
		t.Fatalf("update: %v %v", changed, err)
	}
	if read(t, filepath.Join(dir, "a")) != "3" {
		t.Error("update not visible")
	}
	if _, err := os.Lstat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Error("removed key still present")
	}
	entries, _ := os.ReadDir(dir)
	hidden := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			hidden++
		}
	}
	if hidden != 2 { // ..data and the current payload directory
		t.Errorf("%d hidden entries left: %v", hidden, entries)
	}
	if _, err := writeAtomic(dir, map[string]File{"../x": {}}); err == nil {
		t.Error("escaping path accepted")
	}
}

func TestSetup(t *testing.T) {
	root := t.TempDir()
	hostDir := filepath.Join(root, "host")
	objs := &objects{
		cms:     map[string]*corev1.ConfigMap{"ns/cfg": {Data: map[string]string{"game.properties": "lives=3", "ui": "dark"}}},
		secrets: map[string]*corev1.Secret{"ns/sec": {Data: map[string][]byte{"password": []byte("pw")}}},
	}
	mode := int32(0o400)
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir, Type: &dirOrCreate}}},
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Items:                []corev1.KeyToPath{{Key: "ui", Path: "conf/ui.txt", Mode: &mode}}}}},
			{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
			{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
			{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
			}}}},
		}},
	}
	m := &Manager{RootDir: root, Objects: objs}
	vols, err := m.Setup(t.Context(), envvars.Pod{Pod: pod})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ vol, file, want string }{
		{"cfg", "conf/ui.txt", "dark"}, {"sec", "password", "pw"}, {"info", "labels", `app="x"`},
		{"info", "name", "p"}, {"all", "game.properties", "lives=3"}, {"all", "password", "pw"}, {"all", "ns", "ns"},
	} {
		if got := read(t, filepath.Join(vols[tc.vol].Path, tc.file)); got != tc.want {
			t.Errorf("%s/%s = %q, want %q", tc.vol, tc.file, got, tc.want)
		}
	}
	if info, err := os.Stat(filepath.Join(vols["cfg"].Path, "conf/ui.txt")); err != nil || info.Mode().Perm() != 0o400 {
		t.Errorf("item mode: %v %v", info, err)
	}
	if info, err := os.Stat(hostDir); err != nil || !info.IsDir() {
		t.Errorf("DirectoryOrCreate did not create %s", hostDir)
	}
	if !vols["cfg"].ReadOnly || vols["scratch"].ReadOnly {
		t.Error("read-only flags wrong")
	}
	if !strings.HasSuffix(vols["scratch"].Path, "pods/u1/volumes/kubernetes.io~empty-dir/scratch") {
		t.Errorf("emptyDir path %s", vols["scratch"].Path)
	}

	objs.cms["ns/cfg"].Data["ui"] = "light"
	if vols, err = m.Setup(t.Context(), envvars.Pod{Pod: pod}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(vols["cfg"].Path, "conf/ui.txt")); got != "light" {
		t.Errorf("config map update not projected: %q", got)
	}

	c := &corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{
		{Name: "scratch", MountPath: "/data", SubPath: "logs"}, {Name: "cfg", MountPath: "/etc/cfg"}}}
	mounts, err := Mounts(c, vols)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 2 || !strings.HasSuffix(mounts[0].HostPath, "scratch/logs") || !mounts[1].Readonly {
		t.Errorf("mounts = %v", mounts)
	}
	if _, err := Mounts(&corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}}}, vols); err == nil {
		t.Error("mount of an unknown volume accepted")
	}

	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.PodDir(pod.UID)); !os.IsNotExist(err) {
		t.Error("pod directory left behind")
	}
}

func TestSetupErrors(t *testing.T) {
	file := corev1.HostPathFile
	for _, tc := range []struct {
		name string
		vol  corev1.Volume
		want string
	}{
		{"missing configmap", corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}, `configmap "nope" not found`},
		{"missing key", corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "sec", Items: []corev1.KeyToPath{{Key: "k", Path: "k"}}}}}, "non-existent secret key: k"},
		{"hostPath type", corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: "/nonexistent/file", Type: &file}}}, "is not a file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Manager{RootDir: t.TempDir(), Objects: &objects{secrets: map[string]*corev1.Secret{"ns/sec": {}}}}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{tc.vol}}}
			_, err := m.Setup(t.Context(), envvars.Pod{Pod: pod})
			var se *SetupError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `volume "v"`) {
				t.Fatalf("err = %v, want a SetupError with %q", err, tc.want)
			}
		})
	}
}
