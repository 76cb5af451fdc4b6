package endpoints

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/kubelab/kubelab/components/apiserver/registry"
)

// form is the shape of a response body the client asked for.
type form int

const (
	formObject  form = iota // the object itself
	formTable               // meta.k8s.io/v1 Table
	formPartial             // meta.k8s.io/v1 PartialObjectMetadata(List)
)

// output is the negotiated response format.
type output struct {
	yaml  bool
	proto bool
	form  form
	// tableVersion is v1 or v1beta1 of meta.k8s.io for tables.
	tableVersion string
}

// negotiate picks the first media type of the Accept header we can produce.
func negotiate(r *http.Request) (output, error) { return negotiateFor(r, true) }

// negotiateFor negotiates, with protobuf allowed or not.
func negotiateFor(r *http.Request, allowProto bool) (output, error) {
	accept := r.Header.Get("Accept")
	if strings.TrimSpace(accept) == "" {
		return output{}, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		var o output
		switch mt {
		case "application/json", "application/*", "*/*", "application/json;stream=watch":
		case "application/yaml":
			o.yaml = true
		case ContentTypeProtobuf:
			if !allowProto || params["as"] != "" {
				continue
			}
			o.proto = true
		default:
			continue
		}
		as, g, v := params["as"], params["g"], params["v"]
		switch {
		case as == "":
		case g == "meta.k8s.io" && (v == "v1" || v == "v1beta1") && as == "Table":
			o.form, o.tableVersion = formTable, v
		case g == "meta.k8s.io" && (v == "v1" || v == "v1beta1") && (as == "PartialObjectMetadata" || as == "PartialObjectMetadataList"):
			o.form = formPartial
		default:
			continue
		}
		return o, nil
	}
	return output{}, notAcceptable(accept)
}

func (o output) contentType() string {
	if o.proto {
		return ContentTypeProtobuf
	}
	if o.yaml {
		return "application/yaml"
	}
	return "application/json"
}

// write encodes v with status code and the request's warnings.
func (o output) write(w http.ResponseWriter, r *http.Request, code int, v interface{}, warnings []string) {
	start := func() {
		for _, warn := range warnings {
			w.Header().Add("Warning", `299 - "`+strings.ReplaceAll(warn, `"`, `\"`)+`"`)
		}
		w.Header().Set("Content-Type", o.contentType())
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(code)
	}
	if obj, ok := v.(runtime.Object); ok && o.proto {
		// The protobuf serializer encodes into a buffer of the exact size
		// and writes it at once, after any error: straight to the response
		// (a large list is not copied again).
		bw := &bodyWriter{w: w, head: r.Method == http.MethodHead, start: start}
		if err := protoCodec.Encode(obj, bw); err != nil {
			if !bw.started {
				WriteError(w, r, err)
			}
			return
		}
		bw.begin()
		return
	}
	var data []byte
	var err error
	if o.yaml {
		data, err = yaml.Marshal(v)
	} else {
		data, err = encodeJSON(v)
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	start()
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

// bodyWriter writes a response body, sending the status and headers
// (start) before the first byte.
type bodyWriter struct {
	w       http.ResponseWriter
	head    bool // a HEAD request: no body
	start   func()
	started bool
}

func (b *bodyWriter) begin() {
	if !b.started {
		b.started = true
		b.start()
	}
}

// Write implements io.Writer.
func (b *bodyWriter) Write(p []byte) (int, error) {
	b.begin()
	if b.head {
		return len(p), nil
	}
	return b.w.Write(p)
}

// object converts one served object into the negotiated form.
func (o output) object(s *registry.Store, obj runtime.Object, includeObject string) (interface{}, error) {
	switch o.form {
	case formTable:
		return o.table(s, []runtime.Object{obj}, nil, includeObject)
	case formPartial:
		return partial(obj), nil
	}
	setKind(s, obj)
	return obj, nil
}

// list converts a served list into the negotiated form.
func (o output) list(s *registry.Store, list runtime.Object, includeObject string) (interface{}, error) {
	switch o.form {
	case formTable, formPartial:
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		lm, _ := meta.ListAccessor(list)
		listMeta := metav1.ListMeta{ResourceVersion: lm.GetResourceVersion(), Continue: lm.GetContinue(), RemainingItemCount: lm.GetRemainingItemCount()}
		if o.form == formTable {
			return o.table(s, items, &listMeta, includeObject)
		}
		out := &metav1.PartialObjectMetadataList{
			TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadataList"},
			ListMeta: listMeta,
		}
		for _, it := range items {
			out.Items = append(out.Items, *partial(it))
		}
		return out, nil
	}
	list.GetObjectKind().SetGroupVersionKind(s.Resource().GroupVersion.WithKind(s.Resource().Kind + "List"))
	return list, nil
}

func setKind(s *registry.Store, obj runtime.Object) {
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		obj.GetObjectKind().SetGroupVersionKind(s.Resource().GVK())
	}
}

func partial(obj runtime.Object) *metav1.PartialObjectMetadata {
	m := registry.MetaOf(obj)
	p := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}}
	p.ObjectMeta = metav1.ObjectMeta{
		Name: m.GetName(), GenerateName: m.GetGenerateName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
		ResourceVersion: m.GetResourceVersion(), Generation: m.GetGeneration(), CreationTimestamp: m.GetCreationTimestamp(),
		DeletionTimestamp: m.GetDeletionTimestamp(), DeletionGracePeriodSeconds: m.GetDeletionGracePeriodSeconds(),
		Labels: m.GetLabels(), Annotations: m.GetAnnotations(), OwnerReferences: m.GetOwnerReferences(),
		Finalizers: m.GetFinalizers(), ManagedFields: m.GetManagedFields(),
	}
	return p
}

// table renders objects as a Table; includeObject is None, Metadata
// (default) or Object.
func (o output) table(s *registry.Store, objs []runtime.Object, listMeta *metav1.ListMeta, includeObject string) (*metav1.Table, error) {
	strategy := s.Resource().Strategy
	t := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{APIVersion: "meta.k8s.io/" + o.tableVersion, Kind: "Table"},
		ColumnDefinitions: strategy.TableColumns(),
		Rows:              make([]metav1.TableRow, 0, len(objs)),
	}
	if listMeta != nil {
		t.ListMeta = *listMeta
	} else if len(objs) == 1 {
		t.ResourceVersion = registry.MetaOf(objs[0]).GetResourceVersion()
	}
	for _, obj := range objs {
		stored, err := s.ToStored(obj)
		if err != nil {
			return nil, err
		}
		row := metav1.TableRow{Cells: strategy.TableRow(stored)}
		var embed interface{}
		switch includeObject {
		case "None":
		case "Object":
			setKind(s, obj)
			embed = obj
		default:
			embed = partial(obj)
		}
		if embed != nil {
			raw, err := json.Marshal(embed)
			if err != nil {
				return nil, err
			}
			row.Object = runtime.RawExtension{Raw: raw}
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}
