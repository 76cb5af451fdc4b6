package staticpods

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/components/kubelet/pods"
)

// Mirrors keeps one mirror pod in the API per static pod: created when
// missing, replaced when its static pod changed or someone deletes it,
// removed when its static pod is gone. Mirror pods are owned by the Node.
type Mirrors struct {
	Client   kubernetes.Interface
	Pods     *pods.Manager
	NodeName string
	// NodeUID returns the Node's uid ("" until registered).
	NodeUID func() types.UID
}

// Run syncs the mirrors every interval until ctx ends.
func (m *Mirrors) Run(ctx context.Context, interval time.Duration) {
	log := slog.Default().With("component", "mirror-pods")
	for {
		if err := m.Sync(ctx); err != nil && ctx.Err() == nil {
			log.Info("mirror pod sync failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Sync makes the mirror pods match the static pods once.
func (m *Mirrors) Sync(ctx context.Context) error {
	static := map[string]*corev1.Pod{}
	for _, p := range m.Pods.Static() {
		static[p.Namespace+"/"+p.Name] = p
	}
	for _, mirror := range m.Pods.Mirrors() {
		if mirror.Spec.NodeName != m.NodeName {
			continue
		}
		p := static[mirror.Namespace+"/"+mirror.Name]
		if p == nil || mirror.DeletionTimestamp != nil || mirror.Annotations[pods.AnnotationConfigMirror] != p.Annotations[pods.AnnotationConfigHash] {
			if err := m.delete(ctx, mirror); err != nil {
				return err
			}
		}
	}
	for _, p := range static {
		if m.Pods.Mirror(p) != nil {
			continue
		}
		if err := m.create(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// create creates the mirror pod of static pod p.
func (m *Mirrors) create(ctx context.Context, p *corev1.Pod) error {
	mirror := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, Annotations: map[string]string{}},
		Spec: *p.Spec.DeepCopy()}
	for k, v := range p.Annotations {
		mirror.Annotations[k] = v
	}
	mirror.Annotations[pods.AnnotationConfigMirror] = p.Annotations[pods.AnnotationConfigHash]
	if uid := m.NodeUID(); uid != "" {
		ctrl := false
		mirror.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: m.NodeName, UID: uid, Controller: &ctrl}}
	}
	got, err := m.Client.CoreV1().Pods(p.Namespace).Create(ctx, mirror, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil // the informer brings it soon; a stale one is replaced then
	}
	if err != nil {
		return fmt.Errorf("create mirror pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	m.Pods.SetAPIPod(got)
	return nil
}

// delete removes a mirror pod for good.
func (m *Mirrors) delete(ctx context.Context, mirror *corev1.Pod) error {
	zero := int64(0)
	uid := mirror.UID
	err := m.Client.CoreV1().Pods(mirror.Namespace).Delete(ctx, mirror.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete mirror pod %s/%s: %w", mirror.Namespace, mirror.Name, err)
	}
	m.Pods.DeleteAPIPod(mirror)
	return nil
}
