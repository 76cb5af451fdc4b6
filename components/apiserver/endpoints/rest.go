package endpoints

import (
	"net/http"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelab/kubelab/components/apiserver/registry"
)

// request is one resource request being served.
type request struct {
	h        *Handler
	s        *registry.Store
	w        http.ResponseWriter
	r        *http.Request
	info     *RequestInfo
	warnings []string
}

func (rq *request) fail(err error) { WriteError(rq.w, rq.r, err) }

func (rq *request) serve() {
	switch rq.info.Subresource {
	case "":
		rq.serveMain()
	case "status":
		if !rq.s.Resource().HasStatus {
			rq.fail(notFound())
			return
		}
		rq.serveObjectSub("status")
	case "scale":
		if rq.s.Resource().Scale == nil {
			rq.fail(notFound())
			return
		}
		rq.serveScale()
	case "binding":
		rq.serveBinding()
	case "eviction":
		rq.serveEviction()
	case "finalize":
		rq.serveFinalize()
	default:
		if rq.connects() {
			rq.connect()
			return
		}
		rq.fail(notFound())
	}
}

func (rq *request) serveMain() {
	switch rq.info.Verb {
	case "get":
		rq.get()
	case "list":
		rq.list()
	case "watch":
		rq.watch()
	case "create":
		if rq.info.Name != "" {
			rq.fail(methodNotAllowed(rq.s, "create"))
			return
		}
		rq.create()
	case "update", "patch":
		// PUT and PATCH address one object; on a collection they are 405.
		if rq.info.Name == "" {
			rq.fail(methodNotAllowed(rq.s, rq.info.Verb))
			return
		}
		if rq.info.Verb == "update" {
			rq.update("")
		} else {
			rq.patch("")
		}
	case "delete":
		rq.delete()
	case "deletecollection":
		rq.deleteCollection()
	default:
		rq.fail(methodNotAllowed(rq.s, rq.info.Verb))
	}
}

func (rq *request) serveObjectSub(sub string) {
	switch rq.info.Verb {
	case "get":
		rq.get()
	case "update":
		rq.update(sub)
	case "patch":
		rq.patch(sub)
	default:
		rq.fail(methodNotAllowed(rq.s, rq.info.Verb))
	}
}

func (rq *request) respond(code int, obj runtime.Object) {
	out, err := negotiate(rq.r)
	if err != nil {
		rq.fail(err)
		return
	}
	v, err := out.object(rq.s, obj, rq.r.URL.Query().Get("includeObject"))
	if err != nil {
		rq.fail(err)
		return
	}
	out.write(rq.w, rq.r, code, v, rq.warnings)
}

// writeRaw writes v as negotiated, as is (not as the served resource).
func (rq *request) writeRaw(code int, v runtime.Object) {
	out, err := negotiate(rq.r)
	if err != nil {
		rq.fail(err)
		return
	}
	out.write(rq.w, rq.r, code, v, rq.warnings)
}

func (rq *request) get() {
	obj, err := rq.s.GetAt(rq.r.Context(), rq.info.Namespace, rq.info.Name, rq.r.URL.Query().Get("resourceVersion"))
	if err != nil {
		rq.fail(err)
		return
	}
	rq.respond(http.StatusOK, obj)
}

func (rq *request) list() {
	out, err := negotiate(rq.r)
	if err != nil {
		rq.fail(err)
		return
	}
	o, err := listOptions(rq.r.URL.Query())
	if err != nil {
		rq.fail(err)
		return
	}
	list := rq.s.List
	if out.proto && out.form == formObject {
		// Encoded as is: cached lists reuse their items' encodings.
		list = rq.s.ListProtobuf
	}
	l, err := list(rq.r.Context(), rq.info.Namespace, o.ListOptions)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.writeList(out, l)
}

// writeList writes list as out asks (a table, partial metadata or the list).
func (rq *request) writeList(out output, list runtime.Object) {
	v, err := out.list(rq.s, list, rq.r.URL.Query().Get("includeObject"))
	if err != nil {
		rq.fail(err)
		return
	}
	out.write(rq.w, rq.r, http.StatusOK, v, nil)
}

// decodeBody reads and decodes the request body as the served type.
func (rq *request) decodeBody(into runtime.Object, validation string) error {
	dec, err := newBodyDecoder(rq.r, validation, &rq.warnings)
	if err != nil {
		return err
	}
	data, err := readBody(rq.r)
	if err != nil {
		return err
	}
	gvks, _, err := schemeKinds(into)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	return dec.decode(data, gvks, into)
}

// decodeWrite reads the write options of the query and decodes the body
// into into, as every write of an object does.
func (rq *request) decodeWrite(into runtime.Object) (registry.WriteOptions, error) {
	wo, validation, err := writeOptions(rq.r.URL.Query(), rq.r.UserAgent())
	if err != nil {
		return wo, err
	}
	return wo, rq.decodeBody(into, validation)
}

// writtenCode is the status of a write: 201 when it created the object.
func writtenCode(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (rq *request) create() {
	obj := rq.s.Resource().New()
	wo, err := rq.decodeWrite(obj)
	if err != nil {
		rq.fail(err)
		return
	}
	out, err := rq.s.Create(rq.r.Context(), rq.info.Namespace, obj, wo)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.respond(http.StatusCreated, out)
}

func (rq *request) update(sub string) {
	obj := rq.s.Resource().New()
	wo, err := rq.decodeWrite(obj)
	if err != nil {
		rq.fail(err)
		return
	}
	wo.Subresource = sub
	out, created, err := rq.s.Update(rq.r.Context(), rq.info.Namespace, rq.info.Name, obj, wo)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.respond(writtenCode(created), out)
}

// patchType returns the patch type of the request's Content-Type.
func patchType(r *http.Request) (types.PatchType, error) {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	switch types.PatchType(ct) {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType:
		return types.PatchType(ct), nil
	}
	return "", registry.NewUnsupportedMediaType(ct)
}

func (rq *request) patchOptions(sub string) (registry.PatchOptions, []byte, types.PatchType, error) {
	q := rq.r.URL.Query()
	wo, validation, err := writeOptions(q, rq.r.UserAgent())
	if err != nil {
		return registry.PatchOptions{}, nil, "", err
	}
	wo.Subresource = sub
	pt, err := patchType(rq.r)
	if err != nil {
		return registry.PatchOptions{}, nil, "", err
	}
	data, err := readBody(rq.r)
	if err != nil {
		return registry.PatchOptions{}, nil, "", err
	}
	force, _, err := boolParam(q, "force")
	if err != nil {
		return registry.PatchOptions{}, nil, "", err
	}
	if force && pt != types.ApplyYAMLPatchType {
		return registry.PatchOptions{}, nil, "", apierrors.NewBadRequest("force: Forbidden: may not be specified for non-apply patch")
	}
	if pt == types.ApplyYAMLPatchType && q.Get("fieldManager") == "" {
		return registry.PatchOptions{}, nil, "", apierrors.NewBadRequest("PATCH requests of type apply must specify fieldManager")
	}
	dec := &bodyDecoder{validation: validation, warnings: &rq.warnings}
	o := registry.PatchOptions{WriteOptions: wo, Force: force, Decode: func(b []byte, into runtime.Object) error {
		gvk, _, err := schemeKinds(into)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		return dec.decode(b, gvk, into)
	}}
	return o, data, pt, nil
}

func (rq *request) patch(sub string) {
	o, data, pt, err := rq.patchOptions(sub)
	if err != nil {
		rq.fail(err)
		return
	}
	out, created, err := rq.s.Patch(rq.r.Context(), rq.info.Namespace, rq.info.Name, pt, data, o)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.respond(writtenCode(created), out)
}

// readDeleteOptions reads the delete options of the body and the query.
func (rq *request) readDeleteOptions() (*metav1.DeleteOptions, error) {
	data, err := readBody(rq.r)
	if err != nil {
		return nil, err
	}
	return deleteOptions(rq.r.URL.Query(), rq.r.Header.Get("Content-Type"), data)
}

func (rq *request) delete() {
	opts, err := rq.readDeleteOptions()
	if err != nil {
		rq.fail(err)
		return
	}
	out, deleted, err := rq.s.Delete(rq.r.Context(), rq.info.Namespace, rq.info.Name, opts, len(opts.DryRun) > 0)
	if err != nil {
		rq.fail(err)
		return
	}
	if rq.info.APIGroup == "batch" && rq.info.Resource == "jobs" && opts.PropagationPolicy == nil && opts.OrphanDependents == nil {
		rq.warnings = append(rq.warnings, jobDeleteWarning)
	}
	// As upstream: 200 even when deletion is pending (graceful, finalizers),
	// 202 only for a client that asked for cascading with
	// orphanDependents=false and the object is still there.
	code := http.StatusOK
	if !deleted && opts.OrphanDependents != nil && !*opts.OrphanDependents {
		code = http.StatusAccepted
	}
	rq.respond(code, out)
}

// jobDeleteWarning is upstream's warning for a batch/v1 job deleted
// without a propagation policy, which orphans its pods.
const jobDeleteWarning = "child pods are preserved by default when jobs are deleted; " +
	"set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"

func (rq *request) deleteCollection() {
	opts, err := rq.readDeleteOptions()
	if err != nil {
		rq.fail(err)
		return
	}
	lo, err := listOptions(rq.r.URL.Query())
	if err != nil {
		rq.fail(err)
		return
	}
	list, err := rq.s.DeleteCollection(rq.r.Context(), rq.info.Namespace, lo.ListOptions, opts, len(opts.DryRun) > 0)
	if err != nil {
		rq.fail(err)
		return
	}
	out, err := negotiate(rq.r)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.writeList(out, list)
}

func (rq *request) serveScale() {
	ctx, ns, name := rq.r.Context(), rq.info.Namespace, rq.info.Name
	var scale *autoscalingv1.Scale
	var err error
	switch rq.info.Verb {
	case "get":
		scale, err = rq.s.GetScale(ctx, ns, name)
	case "update":
		in := &autoscalingv1.Scale{}
		wo, derr := rq.decodeWrite(in)
		if derr != nil {
			rq.fail(derr)
			return
		}
		scale, err = rq.s.UpdateScale(ctx, ns, name, in, wo)
	case "patch":
		o, data, pt, perr := rq.patchOptions("")
		if perr != nil {
			rq.fail(perr)
			return
		}
		scale, err = rq.s.PatchScale(ctx, ns, name, pt, data, o)
	default:
		err = methodNotAllowed(rq.s, rq.info.Verb)
	}
	if err != nil {
		rq.fail(err)
		return
	}
	rq.writeRaw(http.StatusOK, scale)
}

func (rq *request) serveBinding() {
	if rq.info.Resource != "pods" || rq.info.Verb != "create" {
		rq.fail(notFound())
		return
	}
	b := &corev1.Binding{}
	wo, err := rq.decodeWrite(b)
	if err != nil {
		rq.fail(err)
		return
	}
	if b.Name == "" {
		b.Name = rq.info.Name
	}
	if b.Name != rq.info.Name {
		rq.fail(apierrors.NewBadRequest("name in URL does not match name in Binding object"))
		return
	}
	if err := rq.s.Bind(rq.r.Context(), rq.info.Namespace, b, wo); err != nil {
		rq.fail(err)
		return
	}
	rq.success(http.StatusCreated)
}

func (rq *request) serveEviction() {
	if rq.info.Resource != "pods" || rq.info.Verb != "create" {
		rq.fail(notFound())
		return
	}
	ev := &policyv1.Eviction{}
	if err := rq.decodeBody(ev, validationStrict); err != nil {
		rq.fail(err)
		return
	}
	if ev.Name != rq.info.Name {
		rq.fail(apierrors.NewBadRequest("name in URL does not match name in Eviction object"))
		return
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if _, _, err := rq.s.Delete(rq.r.Context(), rq.info.Namespace, rq.info.Name, opts, len(opts.DryRun) > 0); err != nil {
		rq.fail(err)
		return
	}
	rq.success(http.StatusCreated)
}

func (rq *request) serveFinalize() {
	if rq.info.Resource != "namespaces" || rq.info.Verb != "update" {
		rq.fail(notFound())
		return
	}
	in := &corev1.Namespace{}
	wo, err := rq.decodeWrite(in)
	if err != nil {
		rq.fail(err)
		return
	}
	out, err := rq.s.Finalize(rq.r.Context(), rq.info.Name, in, wo)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.respond(http.StatusOK, out)
}

// success writes a Status of success, as upstream answers bindings and evictions.
func (rq *request) success(code int) {
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: int32(code)}
	rq.writeRaw(code, &st)
}
