package endpoints

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// MinRequestTimeout is the shortest server-chosen watch duration; each
// watch without timeoutSeconds lasts a random time between it and twice it,
// as upstream spreads reconnects.
var MinRequestTimeout = 30 * time.Minute

// watchEvent is the JSON frame of one event.
type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object interface{}     `json:"object"`
}

func (rq *request) watch() {
	out, err := negotiate(rq.r)
	if err != nil {
		rq.fail(err)
		return
	}
	if out.yaml {
		out.yaml = false // watch streams are JSON or protobuf
	}
	q := rq.r.URL.Query()
	o, err := listOptions(q)
	if err != nil {
		rq.fail(err)
		return
	}
	if rq.info.Name != "" {
		// /watch/.../{name} watches one object.
		o.FieldSelector = nameSelector(rq.info.Name, o.FieldSelector)
	}
	timeout := time.Duration(float64(MinRequestTimeout) * (1 + rand.Float64()))
	if s := q.Get("timeoutSeconds"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			rq.fail(apierrors.NewBadRequest("invalid timeoutSeconds " + strconv.Quote(s)))
			return
		}
		timeout = time.Duration(n) * time.Second
	}
	ctx, cancel := context.WithTimeout(rq.r.Context(), timeout)
	defer cancel()
	events, err := rq.s.Watch(ctx, rq.info.Namespace, o)
	if err != nil {
		rq.fail(err)
		return
	}
	includeObject := q.Get("includeObject")
	w := rq.w
	write := jsonFrames(w)
	w.Header().Set("Content-Type", "application/json")
	if out.proto {
		write = protobufFrames(w)
		w.Header().Set("Content-Type", ContentTypeProtobuf+";stream=watch")
	}
	w.Header().Set("Cache-Control", "no-cache, private")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	first := true
	for ev := range events {
		var obj interface{} = ev.Object
		switch {
		case ev.Type == watch.Error:
		case ev.Type == watch.Bookmark && out.form != formObject:
			obj = bookmarkIn(out, ev.Object)
		case out.form == formTable:
			t, err := out.table(rq.s, []runtime.Object{ev.Object}, nil, includeObject)
			if err != nil {
				return
			}
			t.ResourceVersion = metaRV(ev.Object)
			if !first {
				t.ColumnDefinitions = nil
			}
			first = false
			obj = t
		case out.form == formPartial:
			obj = partial(ev.Object)
		}
		if err := write(ev.Type, obj); err != nil {
			return
		}
		if len(events) == 0 {
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

func metaRV(obj runtime.Object) string {
	if m, ok := obj.(metav1.Object); ok {
		return m.GetResourceVersion()
	}
	return ""
}

// bookmarkIn renders a bookmark in the Table or metadata forms.
func bookmarkIn(out output, obj runtime.Object) interface{} {
	p := partial(obj)
	if out.form == formTable {
		return &metav1.Table{
			TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/" + out.tableVersion, Kind: "Table"},
			ListMeta: metav1.ListMeta{ResourceVersion: p.ResourceVersion},
		}
	}
	return p
}

// jsonFrames writes watch events as JSON objects, one per line.
func jsonFrames(w io.Writer) func(watch.EventType, interface{}) error {
	enc := json.NewEncoder(w)
	return func(typ watch.EventType, obj interface{}) error {
		return enc.Encode(watchEvent{Type: typ, Object: obj})
	}
}

// protobufFrames writes watch events as upstream's protobuf stream does:
// each a metav1.WatchEvent (its object in the protobuf envelope) behind its
// length in four big-endian bytes. Decoding it costs clients about a fifth
// of the JSON stream.
func protobufFrames(w io.Writer) func(watch.EventType, interface{}) error {
	var buf bytes.Buffer
	return func(typ watch.EventType, obj interface{}) error {
		ro, ok := obj.(runtime.Object)
		if !ok {
			return fmt.Errorf("watch event object %T is not an API object", obj)
		}
		buf.Reset()
		if err := protoCodec.Encode(ro, &buf); err != nil {
			return fmt.Errorf("encode watch event: %w", err)
		}
		ev := metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: buf.Bytes()}}
		frame := make([]byte, 4+ev.Size())
		n, err := ev.MarshalTo(frame[4:])
		if err != nil {
			return fmt.Errorf("encode watch event: %w", err)
		}
		binary.BigEndian.PutUint32(frame, uint32(n))
		_, err = w.Write(frame[:4+n])
		return err
	}
}
