// Package pods runs the pods bound to a node on the CRI: one worker per
// pod syncs it level-triggered (sandbox, init containers in order, then
// containers; restarts with CrashLoopBackOff; probes; graceful
// termination), and writes its status as upstream's kubelet computes it.
package pods

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Annotations of static and mirror pods, as upstream.
const (
	AnnotationConfigSource = "kubernetes.io/config.source"
	AnnotationConfigHash   = "kubernetes.io/config.hash"
	AnnotationConfigMirror = "kubernetes.io/config.mirror"
	AnnotationConfigSeen   = "kubernetes.io/config.seen"
)

// IsMirror reports whether pod is the API's mirror of a static pod.
func IsMirror(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[AnnotationConfigMirror]
	return ok
}

// IsStatic reports whether pod came from a manifest file.
func IsStatic(pod *corev1.Pod) bool {
	src, ok := pod.Annotations[AnnotationConfigSource]
	return ok && src != "api"
}

// Manager holds the pods the node runs by uid (the API's pods bound to
// it and its static pods) and the mirror pods of the static ones. Every
// change is reported to onChange with the pod's uid.
type Manager struct {
	onChange func(types.UID)

	mu      sync.RWMutex
	byUID   map[types.UID]*corev1.Pod
	static  map[types.UID]bool
	mirrors map[string]*corev1.Pod // by namespace/name
}

// NewManager returns an empty Manager.
func NewManager(onChange func(types.UID)) *Manager {
	return &Manager{onChange: onChange, byUID: map[types.UID]*corev1.Pod{},
		static: map[types.UID]bool{}, mirrors: map[string]*corev1.Pod{}}
}

func fullName(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// SetAPIPod records an API pod (added or updated).
func (m *Manager) SetAPIPod(pod *corev1.Pod) {
	m.mu.Lock()
	var notify types.UID
	if IsMirror(pod) {
		m.mirrors[fullName(pod)] = pod
		notify = m.staticByNameLocked(fullName(pod))
	} else {
		m.byUID[pod.UID] = pod
		notify = pod.UID
	}
	m.mu.Unlock()
	if notify != "" {
		m.onChange(notify)
	}
}

// DeleteAPIPod forgets an API pod.
func (m *Manager) DeleteAPIPod(pod *corev1.Pod) {
	m.mu.Lock()
	var notify types.UID
	if IsMirror(pod) {
		if cur := m.mirrors[fullName(pod)]; cur != nil && cur.UID == pod.UID {
			delete(m.mirrors, fullName(pod))
		}
		notify = m.staticByNameLocked(fullName(pod))
	} else if !m.static[pod.UID] {
		delete(m.byUID, pod.UID)
		notify = pod.UID
	}
	m.mu.Unlock()
	if notify != "" {
		m.onChange(notify)
	}
}

// SetStaticPods replaces the static pods.
func (m *Manager) SetStaticPods(pods []*corev1.Pod) {
	m.mu.Lock()
	var changed []types.UID
	want := map[types.UID]*corev1.Pod{}
	for _, p := range pods {
		want[p.UID] = p
	}
	for uid := range m.static {
		if want[uid] == nil {
			delete(m.static, uid)
			delete(m.byUID, uid)
			changed = append(changed, uid)
		}
	}
	for uid, p := range want {
		if old := m.byUID[uid]; old == nil || old.ResourceVersion != p.ResourceVersion || !m.static[uid] {
			changed = append(changed, uid)
		}
		m.byUID[uid], m.static[uid] = p, true
	}
	m.mu.Unlock()
	for _, uid := range changed {
		m.onChange(uid)
	}
}

// staticByNameLocked returns the uid of the static pod named name.
func (m *Manager) staticByNameLocked(name string) types.UID {
	for uid := range m.static {
		if p := m.byUID[uid]; p != nil && fullName(p) == name {
			return uid
		}
	}
	return ""
}

// Get returns the pod with uid.
func (m *Manager) Get(uid types.UID) (*corev1.Pod, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.byUID[uid]
	return p, ok
}

// Mirror returns the mirror pod of static pod (nil: none).
func (m *Manager) Mirror(pod *corev1.Pod) *corev1.Pod {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.mirrors[fullName(pod)]
}

// Static lists the static pods.
func (m *Manager) Static() []*corev1.Pod {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*corev1.Pod, 0, len(m.static))
	for uid := range m.static {
		out = append(out, m.byUID[uid])
	}
	return out
}

// Mirrors lists the mirror pods.
func (m *Manager) Mirrors() []*corev1.Pod {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*corev1.Pod, 0, len(m.mirrors))
	for _, p := range m.mirrors {
		out = append(out, p)
	}
	return out
}

// UIDs lists the uids of all pods.
func (m *Manager) UIDs() []types.UID {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]types.UID, 0, len(m.byUID))
	for uid := range m.byUID {
		out = append(out, uid)
	}
	return out
}

// ByName returns the pod (static or API, not mirror) named
// namespace/name, for the kubelet's API.
func (m *Manager) ByName(namespace, name string) (*corev1.Pod, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, p := range m.byUID {
		if p.Namespace == namespace && p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// All lists the pods the node runs (static pods included, mirrors not).
func (m *Manager) All() []*corev1.Pod {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*corev1.Pod, 0, len(m.byUID))
	for _, p := range m.byUID {
		out = append(out, p)
	}
	return out
}
