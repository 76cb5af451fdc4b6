package daemonset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/kubelab/kubelab/components/controllers/ownership"
)

// sync brings the daemon set key to one current pod per eligible node and
// writes its status.
func (dsc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	shared, err := dsc.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		dsc.expectations.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	ds := shared.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		// Validation prevents this; an object written around it is reported, not acted on.
		dsc.recorder.Eventf(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods or has an invalid selector. A non-empty, valid selector is required.")
		return nil
	}
	if !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		// Pods made from this template would never be claimed: creating
		// them would never end. Validation prevents it; report, don't act.
		dsc.recorder.Eventf(ds, corev1.EventTypeWarning, "SelectorMismatch", "The pod template's labels do not match the selector; no pods are created.")
		return nil
	}
	if ds.DeletionTimestamp != nil {
		return nil // the garbage collector takes the pods
	}
	nodes, err := dsc.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	hash := templateHash(ds)
	if !dsc.expectations.Satisfied(key) {
		// Earlier creates or deletes are not in the cache yet.
		return dsc.updateStatus(ctx, ds, nodes, hash, false)
	}
	nodeToPods, err := dsc.nodesToDaemonPods(ctx, ds, sel)
	if err != nil {
		return err
	}
	syncErr := dsc.manage(ctx, ds, key, nodes, nodeToPods, hash)
	if syncErr == nil && dsc.expectations.Satisfied(key) && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		syncErr = dsc.rollingUpdate(ctx, ds, key, nodes, nodeToPods, hash)
	}
	return errors.Join(syncErr, dsc.updateStatus(ctx, ds, nodes, hash, syncErr == nil))
}

// nodesToDaemonPods claims the daemon set's pods (adopting orphans that
// match, releasing its pods that no longer do) and groups them by the node
// they are for. Finished pods already being deleted are left out.
func (dsc *Controller) nodesToDaemonPods(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) (map[string][]*corev1.Pod, error) {
	all, err := dsc.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	claimed, err := ownership.Claim(ctx, ownership.Owner{Object: ds, GVK: controllerKind}, sel, all, ownership.PodPatcher(dsc.client))
	if err != nil {
		return nil, err
	}
	out := map[string][]*corev1.Pod{}
	for _, pod := range claimed {
		terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
		if terminal && pod.DeletionTimestamp != nil {
			continue
		}
		if node := targetNode(pod); node != "" {
			out[node] = append(out[node], pod)
		}
	}
	return out, nil
}

// manage creates the missing daemon pods and deletes those that must go:
// pods on nodes that no longer qualify, failed or succeeded pods, extra
// pods on a node, and unbound pods whose node is gone.
func (dsc *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, key string, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string) error {
	var create []string
	var del []*corev1.Pod
	exists := map[string]bool{}
	spec := ds.Spec.Template.Spec.DeepCopy()
	addDaemonTolerations(spec)
	for _, node := range nodes {
		exists[node.Name] = true
		c, d := dsc.podsShouldBeOnNode(node, nodeToPods[node.Name], ds, spec, hash)
		create = append(create, c...)
		del = append(del, d...)
	}
	for node, pods := range nodeToPods {
		if exists[node] {
			continue
		}
		for _, pod := range pods {
			// Never bound and its node is gone: no scheduler or pod GC will
			// ever touch it.
			if pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil {
				del = append(del, pod)
			}
		}
	}
	return dsc.syncNodes(ctx, ds, key, del, create, hash)
}

// podsShouldBeOnNode decides for one node which daemon pod to create
// (the node's name, at most one) and which pods to delete; spec is the
// template's pod spec with the daemon tolerations.
func (dsc *Controller) podsShouldBeOnNode(node *corev1.Node, pods []*corev1.Pod, ds *appsv1.DaemonSet, spec *corev1.PodSpec, hash string) (create []string, del []*corev1.Pod) {
	run, cont := shouldRun(node, spec)
	switch {
	case run && len(pods) == 0:
		return []string{node.Name}, nil
	case cont:
		var running []*corev1.Pod
		for _, pod := range pods {
			if pod.DeletionTimestamp != nil {
				continue
			}
			switch pod.Status.Phase {
			case corev1.PodFailed:
				backoffKey := string(ds.UID) + "/" + node.Name
				now := dsc.now()
				if dsc.failedPodsBackoff.IsInBackOffSinceUpdate(backoffKey, now) {
					dsc.queue.AddAfter(ds.Namespace+"/"+ds.Name, dsc.failedPodsBackoff.Get(backoffKey))
					continue
				}
				dsc.failedPodsBackoff.Next(backoffKey, now)
				dsc.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod",
					"Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, node.Name)
				del = append(del, pod)
			case corev1.PodSucceeded:
				del = append(del, pod) // daemons are meant to keep running
			default:
				running = append(running, pod)
			}
		}
		if len(running) <= 1 {
			return nil, del
		}
		slices.SortFunc(running, olderFirst)
		if !allowsSurge(ds) {
			return nil, append(del, running[1:]...) // keep the oldest
		}
		// With surge a node may hold one old and one new pod: keep the
		// oldest of each.
		var haveNew, haveOld bool
		for _, pod := range running {
			switch {
			case isUpdated(pod, hash) && !haveNew:
				haveNew = true
			case !isUpdated(pod, hash) && !haveOld:
				haveOld = true
			default:
				del = append(del, pod)
			}
		}
		return nil, del
	case len(pods) > 0:
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				del = append(del, pod)
			}
		}
	}
	return nil, del
}

// syncNodes creates daemon pods for nodes (in slow-start batches) and
// deletes pods, under expectations so the next sync waits for the cache.
func (dsc *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, key string, del []*corev1.Pod, nodes []string, hash string) error {
	nodes = nodes[:min(len(nodes), burstReplicas)]
	del = del[:min(len(del), burstReplicas)]
	dsc.expectations.Expect(key, len(nodes), len(del))
	var errs []error
	var attempted atomic.Int32
	var next atomic.Int32
	_, err := ownership.SlowStartBatch(len(nodes), ownership.SlowStartInitialBatchSize, func() error {
		attempted.Add(1)
		node := nodes[next.Add(1)-1]
		pod := newPod(ds, node, hash)
		created, err := dsc.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			dsc.expectations.Observed(key, true)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
			dsc.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			return fmt.Errorf("create daemon pod for node %s: %w", node, err)
		}
		dsc.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
		for skipped := len(nodes) - int(attempted.Load()); skipped > 0; skipped-- {
			dsc.expectations.Observed(key, true)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, pod := range del {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := dsc.deletePodOf(ctx, ds, pod); err != nil {
				dsc.expectations.Observed(key, false)
				if !apierrors.IsNotFound(err) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// updateStatus writes the status counts when they changed; observedGeneration
// only after a complete sync.
func (dsc *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string, observed bool) error {
	sel, _ := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	pods, err := dsc.podLister.Pods(ds.Namespace).List(sel)
	if err != nil {
		return err
	}
	nodeToPods := map[string][]*corev1.Pod{}
	for _, pod := range pods {
		ref := metav1.GetControllerOfNoCopy(pod)
		if ref == nil || ref.UID != ds.UID {
			continue
		}
		terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
		if terminal && pod.DeletionTimestamp != nil {
			continue
		}
		if node := targetNode(pod); node != "" {
			nodeToPods[node] = append(nodeToPods[node], pod)
		}
	}
	st := ds.Status.DeepCopy()
	st.DesiredNumberScheduled, st.CurrentNumberScheduled, st.NumberMisscheduled = 0, 0, 0
	st.NumberReady, st.NumberAvailable, st.UpdatedNumberScheduled = 0, 0, 0
	now := metav1.NewTime(dsc.now())
	spec := ds.Spec.Template.Spec.DeepCopy()
	addDaemonTolerations(spec)
	for _, node := range nodes {
		run, _ := shouldRun(node, spec)
		onNode := nodeToPods[node.Name]
		if !run {
			if len(onNode) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(onNode) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		slices.SortFunc(onNode, olderFirst)
		pod := onNode[0]
		if ownership.IsPodReady(pod) {
			st.NumberReady++
			if ownership.IsPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			}
		}
		if isUpdated(pod, hash) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	if observed {
		st.ObservedGeneration = ds.Generation
	}
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		dsc.queue.AddAfter(ds.Namespace+"/"+ds.Name, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	if equalStatus(st, &ds.Status) {
		return nil
	}
	toUpdate := ds
	for attempt := 0; ; attempt++ {
		st.CollisionCount, st.Conditions = toUpdate.Status.CollisionCount, toUpdate.Status.Conditions
		toUpdate.Status = *st
		_, err := dsc.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, toUpdate, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsConflict(err) || attempt > 0 {
			if err != nil {
				return fmt.Errorf("update status of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
			}
			return nil
		}
		// Our cache lags our own last write: retry once on the latest.
		fresh, gerr := dsc.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if gerr != nil || fresh.UID != ds.UID {
			return fmt.Errorf("update status of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
		}
		toUpdate = fresh
	}
}

func equalStatus(a, b *appsv1.DaemonSetStatus) bool {
	return a.ObservedGeneration == b.ObservedGeneration && a.DesiredNumberScheduled == b.DesiredNumberScheduled &&
		a.CurrentNumberScheduled == b.CurrentNumberScheduled && a.NumberMisscheduled == b.NumberMisscheduled &&
		a.NumberReady == b.NumberReady && a.NumberAvailable == b.NumberAvailable &&
		a.UpdatedNumberScheduled == b.UpdatedNumberScheduled && a.NumberUnavailable == b.NumberUnavailable
}
