package queue

import (
	"container/heap"

	"k8s.io/apimachinery/pkg/types"
)

// podHeap is a heap of queued pods with lookup by UID.
type podHeap struct {
	items []*QueuedPod
	byUID map[types.UID]*QueuedPod
	less  func(a, b *QueuedPod) bool
}

func newPodHeap(less func(a, b *QueuedPod) bool) *podHeap {
	return &podHeap{byUID: map[types.UID]*QueuedPod{}, less: less}
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}

// Push and Pop implement heap.Interface; use add, remove and pop instead.
func (h *podHeap) Push(x any) {
	qp := x.(*QueuedPod)
	qp.index = len(h.items)
	h.items = append(h.items, qp)
}

// Pop implements heap.Interface.
func (h *podHeap) Pop() any {
	last := len(h.items) - 1
	qp := h.items[last]
	h.items[last] = nil
	h.items = h.items[:last]
	qp.index = -1
	return qp
}

func (h *podHeap) add(qp *QueuedPod) {
	h.byUID[qp.Pod.UID] = qp
	heap.Push(h, qp)
}

func (h *podHeap) get(uid types.UID) *QueuedPod { return h.byUID[uid] }

func (h *podHeap) remove(uid types.UID) *QueuedPod {
	qp := h.byUID[uid]
	if qp == nil {
		return nil
	}
	delete(h.byUID, uid)
	heap.Remove(h, qp.index)
	return qp
}

func (h *podHeap) fix(qp *QueuedPod) { heap.Fix(h, qp.index) }

func (h *podHeap) peek() *QueuedPod {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

func (h *podHeap) pop() *QueuedPod {
	if len(h.items) == 0 {
		return nil
	}
	qp := heap.Pop(h).(*QueuedPod)
	delete(h.byUID, qp.Pod.UID)
	return qp
}
