package staticpods

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubelab/kubelab/components/kubelet/pods"
)

const etcdManifest = `apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
  labels: {component: etcd}
spec:
  hostNetwork: true
  containers:
  - name: etcd
    image: kubelab/etcd:dev
    command: [etcd]
`

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "etcd.yaml", etcdManifest)
	write(t, dir, "bad.yaml", "kind: Service\nmetadata: {name: x}\n")
	write(t, dir, "noname.json", `{"kind":"Pod","spec":{"containers":[{"name":"c","image":"i"}]}}`)
	write(t, dir, ".hidden.yaml", etcdManifest)
	write(t, dir, "README", "not a manifest")
	list, errs := Load(dir, "Kind-Control-Plane")
	if len(list) != 1 || len(errs) != 2 {
		t.Fatalf("Load = %d pods, errors %v", len(list), errs)
	}
	p := list[0]
	if p.Name != "etcd-kind-control-plane" || p.Namespace != "kube-system" || p.Spec.NodeName != "Kind-Control-Plane" {
		t.Errorf("identity: %s/%s on %s", p.Namespace, p.Name, p.Spec.NodeName)
	}
	if !pods.IsStatic(p) || p.Annotations[pods.AnnotationConfigHash] != string(p.UID) || p.UID == "" {
		t.Errorf("annotations: %v uid %s", p.Annotations, p.UID)
	}
	c := p.Spec.Containers[0]
	if p.Spec.RestartPolicy != corev1.RestartPolicyAlways || c.TerminationMessagePath == "" || c.ImagePullPolicy == "" {
		t.Errorf("defaults not applied: %+v", p.Spec)
	}
	again, _ := Load(dir, "Kind-Control-Plane")
	if again[0].UID != p.UID {
		t.Error("uid changed for an unchanged manifest")
	}
	write(t, dir, "etcd.yaml", strings.Replace(etcdManifest, "dev", "v2", 1))
	changed, _ := Load(dir, "Kind-Control-Plane")
	if changed[0].UID == p.UID {
		t.Error("uid kept for a changed manifest")
	}
	if list, errs := Load(filepath.Join(dir, "missing"), "n"); len(list) != 0 || len(errs) != 0 {
		t.Errorf("missing dir: %v %v", list, errs)
	}
}

func TestMirrors(t *testing.T) {
	client := fake.NewClientset()
	mgr := pods.NewManager(func(types.UID) {})
	p, err := Decode([]byte(etcdManifest), "node-1", "etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mgr.SetStaticPods([]*corev1.Pod{p})
	m := &Mirrors{Client: client, Pods: mgr, NodeName: "node-1", NodeUID: func() types.UID { return "node-uid" }}
	ctx := t.Context()
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	mirror, err := client.CoreV1().Pods("kube-system").Get(ctx, "etcd-node-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !pods.IsMirror(mirror) || mirror.Annotations[pods.AnnotationConfigMirror] != string(p.UID) ||
		len(mirror.OwnerReferences) != 1 || mirror.OwnerReferences[0].Kind != "Node" || mirror.Spec.NodeName != "node-1" {
		t.Errorf("mirror = %+v", mirror.ObjectMeta)
	}
	if got := mgr.Mirror(p); got == nil || got.Name != mirror.Name {
		t.Error("manager does not know the mirror")
	}
	if _, ok := mgr.Get(p.UID); !ok {
		t.Error("static pod lost")
	}

	// The manifest changes: the old mirror goes, a new one comes.
	p2, _ := Decode([]byte(strings.Replace(etcdManifest, "dev", "v2", 1)), "node-1", "etcd.yaml")
	mgr.SetStaticPods([]*corev1.Pod{p2})
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	mirror, err = client.CoreV1().Pods("kube-system").Get(ctx, "etcd-node-1", metav1.GetOptions{})
	if err != nil || mirror.Annotations[pods.AnnotationConfigMirror] != string(p2.UID) {
		t.Fatalf("mirror after change: %v %v", mirror, err)
	}
	if _, ok := mgr.Get(p.UID); ok {
		t.Error("old static pod still known")
	}

	// The manifest is removed: so is the mirror.
	mgr.SetStaticPods(nil)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods("kube-system").Get(ctx, "etcd-node-1", metav1.GetOptions{}); err == nil {
		t.Error("mirror of a removed manifest left")
	}
}
