package registry

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// protobufMarshaler is what generated API types implement.
type protobufMarshaler interface {
	Marshal() ([]byte, error)
}

// hasProtobufListLayout reports whether the list type of res encodes as
// every generated list does (metadata as field 1, items as repeated field
// 2) with items that marshal themselves, so that protobufList may stand in
// for it.
func hasProtobufListLayout(res *Resource) bool {
	if res.Codec != nil || res.NewList == nil || res.New == nil {
		return false
	}
	if _, ok := res.New().(protobufMarshaler); !ok {
		return false
	}
	t := reflect.TypeOf(res.NewList())
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return false
	}
	lm, ok1 := t.Elem().FieldByName("ListMeta")
	items, ok2 := t.Elem().FieldByName("Items")
	return ok1 && ok2 && lm.Type == reflect.TypeOf(metav1.ListMeta{}) &&
		strings.HasPrefix(lm.Tag.Get("protobuf"), "bytes,1,opt,") &&
		strings.HasPrefix(items.Tag.Get("protobuf"), "bytes,2,rep,") &&
		items.Type.Kind() == reflect.Slice && reflect.PointerTo(items.Type.Elem()) == reflect.TypeOf(res.New())
}

// protobuf returns the entry's object encoded as protobuf (without the
// envelope), encoding it on first use. Entries never change, so the
// encoding stays valid until the entry is replaced.
func (e *cacheEntry) protobuf() ([]byte, error) {
	if p := e.encoded.Load(); p != nil {
		return *p, nil
	}
	m, ok := e.obj.(protobufMarshaler)
	if !ok {
		return nil, fmt.Errorf("%T does not marshal to protobuf", e.obj)
	}
	data, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	e.encoded.Store(&data)
	return data, nil
}

// protobufList is a list of cached objects that only encodes: as protobuf
// it is byte for byte the typed list holding the same objects (metadata as
// field 1, each item as field 2), but writes the items' kept encodings
// instead of encoding them again. The protobuf serializer takes it through
// runtime.ProtobufMarshaller.
type protobufList struct {
	// typeMeta is not embedded: its generated protobuf methods would be
	// promoted and taken for the list's.
	typeMeta metav1.TypeMeta
	meta     metav1.ListMeta
	items    [][]byte
	err      error
}

var (
	_ runtime.ProtobufMarshaller = (*protobufList)(nil)
	_ runtime.Object             = (*protobufList)(nil)
)

func newProtobufList(gvk schema.GroupVersionKind, entries []*cacheEntry, lm metav1.ListMeta) *protobufList {
	l := &protobufList{meta: lm, items: make([][]byte, len(entries))}
	l.typeMeta.SetGroupVersionKind(gvk)
	for i, e := range entries {
		if l.items[i], l.err = e.protobuf(); l.err != nil {
			break
		}
	}
	return l
}

// GetObjectKind implements runtime.Object.
func (l *protobufList) GetObjectKind() schema.ObjectKind { return &l.typeMeta }

// DeepCopyObject implements runtime.Object; the encodings are immutable
// and shared.
func (l *protobufList) DeepCopyObject() runtime.Object {
	cp := *l
	l.meta.DeepCopyInto(&cp.meta)
	cp.items = append([][]byte(nil), l.items...)
	return &cp
}

// Size implements runtime.ProtobufMarshaller.
func (l *protobufList) Size() int {
	n := protoField(l.meta.Size())
	for _, it := range l.items {
		n += protoField(len(it))
	}
	return n
}

// protoField is the size of a length-delimited field of n bytes with a one-byte tag.
func protoField(n int) int { return 1 + uvarintLen(uint64(n)) + n }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// MarshalTo implements runtime.ProtobufMarshaller.
func (l *protobufList) MarshalTo(data []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	i := 0
	put := func(tag byte, n int) {
		data[i] = tag
		i++
		i += binary.PutUvarint(data[i:], uint64(n))
	}
	put(0x0a, l.meta.Size())
	n, err := l.meta.MarshalTo(data[i:])
	if err != nil {
		return 0, err
	}
	i += n
	for _, it := range l.items {
		put(0x12, len(it))
		i += copy(data[i:], it)
	}
	return i, nil
}
