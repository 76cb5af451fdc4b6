package replicaset

import (
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/ownership"
)

func keyOf(obj metav1.Object) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}

func (c *Controller) enqueue(obj any) { controllers.Enqueue(c.queue, obj) }

func (c *Controller) addOwner(obj any) { c.enqueue(obj) }

func (c *Controller) updateOwner(old, cur any) {
	o, ok1 := old.(metav1.Object)
	n, ok2 := cur.(metav1.Object)
	if ok1 && ok2 && o.GetUID() != n.GetUID() {
		// Deleted and recreated under the same name between two events.
		c.expectations.Forget(keyOf(o))
	}
	c.enqueue(cur)
}

func (c *Controller) deleteOwner(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.expectations.Forget(key)
		c.queue.Add(key)
	}
}

// resolve returns the controlled object ref names in ns, if it is the one
// the reference means (same kind and uid).
func (c *Controller) resolve(ns string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref.Kind != c.kind.GVK.Kind {
		return nil
	}
	if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Group != c.kind.GVK.Group {
		return nil
	}
	rs, err := c.get(ns + "/" + ref.Name)
	if err != nil || rs == nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// matching returns the objects whose selector selects the orphan pod.
func (c *Controller) matching(pod *corev1.Pod) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	set := labels.Set(pod.Labels)
	for _, rs := range c.inNamespace(pod.Namespace) {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(set) {
			out = append(out, rs)
		}
	}
	return out
}

func (c *Controller) addPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already terminating (after a relist).
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		rs := c.resolve(pod.Namespace, ref)
		if rs == nil {
			return
		}
		key := keyOf(rs)
		c.expectations.Observed(key, true)
		c.queue.Add(key)
		return
	}
	for _, rs := range c.matching(pod) {
		c.queue.Add(keyOf(rs))
	}
}

func (c *Controller) updatePod(old, cur any) {
	oldPod, ok1 := old.(*corev1.Pod)
	curPod, ok2 := cur.(*corev1.Pod)
	if !ok1 || !ok2 || oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	labelChanged := !reflect.DeepEqual(oldPod.Labels, curPod.Labels)
	if curPod.DeletionTimestamp != nil {
		// A graceful delete shows first as an update; count it as the
		// deletion now (tracked expectations count each pod once).
		c.deletePod(curPod)
		if labelChanged {
			c.deletePod(oldPod)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(oldPod), metav1.GetControllerOfNoCopy(curPod)
	refChanged := !reflect.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if rs := c.resolve(oldPod.Namespace, oldRef); rs != nil {
			c.queue.Add(keyOf(rs))
		}
	}
	if curRef != nil {
		rs := c.resolve(curPod.Namespace, curRef)
		if rs == nil {
			return
		}
		c.queue.Add(keyOf(rs))
		// A pod that just became ready becomes available minReadySeconds
		// later; look again then.
		if !ownership.IsPodReady(oldPod) && ownership.IsPodReady(curPod) && rs.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(keyOf(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelChanged || refChanged {
		for _, rs := range c.matching(curPod) {
			c.queue.Add(keyOf(rs))
		}
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := controllers.DeletedObject[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return
	}
	rs := c.resolve(pod.Namespace, ref)
	if rs == nil {
		return
	}
	key := keyOf(rs)
	c.expectations.DeletionObserved(key, keyOf(pod))
	c.queue.Add(key)
}
