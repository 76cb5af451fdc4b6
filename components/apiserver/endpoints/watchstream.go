package endpoints

import (
	"context"
	"encoding/json"
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
	out, err := negotiateFor(rq.r, false)
	if err != nil {
		rq.fail(err)
		return
	}
	if out.yaml {
		out.yaml = false // watch streams are JSON
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
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
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
		if err := enc.Encode(watchEvent{Type: ev.Type, Object: obj}); err != nil {
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
