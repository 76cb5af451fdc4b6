package registry

import (
	"context"
	"encoding/json"
	"fmt"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"
)

// Decoder decodes a served object from JSON, applying the request's field
// validation (unknown and duplicate fields).
type Decoder func(data []byte, into runtime.Object) error

// PatchOptions are the parameters of a PATCH request.
type PatchOptions struct {
	WriteOptions
	// Force takes over conflicting fields in a server-side apply.
	Force bool
	// Decode decodes the patched object.
	Decode Decoder
}

// maxJSONPatchOperations bounds the work a JSON patch may ask for.
const maxJSONPatchOperations = 10000

// maxJSONPatchCopyBytes bounds the bytes a JSON patch's copy operations may
// add (upstream's JSONPatchMaxCopyBytes): each copy can double an object,
// so a small patch could otherwise exhaust the server's memory.
const maxJSONPatchCopyBytes = 3 << 20

func init() {
	// The library reads its limit from a package variable.
	jsonpatch.AccumulatedCopySizeLimit = maxJSONPatchCopyBytes
}

// ApplyPatch applies a JSON, merge or strategic merge patch to original
// (JSON) for objects of type dataStruct.
func ApplyPatch(pt types.PatchType, original, patch []byte, dataStruct interface{}) (out []byte, err error) {
	// The patch libraries panic on some malformed patches (a JSON patch
	// test of the root without a value, a strategic merge key whose value
	// is a list): the patch is at fault, not the server.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, apierrors.NewBadRequest(fmt.Sprintf("the %s patch is malformed and could not be applied: %v", pt, r))
		}
	}()
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if len(p) > maxJSONPatchOperations {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(p)))
		}
		out, err := p.Apply(original)
		if err != nil {
			return nil, apierrors.NewInvalid(schemaGK, "", fieldErr(err))
		}
		return out, nil
	case types.MergePatchType:
		out, err := jsonpatch.MergePatch(original, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	case types.StrategicMergePatchType:
		out, err := strategicpatch.StrategicMergePatch(original, patch, dataStruct)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	}
	return nil, NewUnsupportedMediaType(string(pt))
}

// Patch applies a patch to ns/name. Server-side apply creates the object
// when it does not exist (created is then true).
func (s *Store) Patch(ctx context.Context, ns, name string, pt types.PatchType, patch []byte, o PatchOptions) (out runtime.Object, created bool, err error) {
	if pt == types.ApplyPatchType || pt == types.ApplyCBORPatchType {
		return s.apply(ctx, ns, name, patch, o)
	}
	out, err = s.GuaranteedUpdate(ctx, ns, name, "", o.WriteOptions, func(existing runtime.Object) (runtime.Object, error) {
		served, err := s.toServed(existing)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		served.GetObjectKind().SetGroupVersionKind(s.res.GVK())
		orig, err := json.Marshal(served)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		patched, err := ApplyPatch(pt, orig, patch, s.res.New())
		if err != nil {
			return nil, err
		}
		obj := s.res.New()
		if err := o.Decode(patched, obj); err != nil {
			return nil, err
		}
		m := MetaOf(obj)
		if v := m.GetResourceVersion(); v != "" && v != MetaOf(existing).GetResourceVersion() {
			return nil, conflict(s.gr, name)
		}
		if m.GetName() != name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), name))
		}
		return s.toStored(obj)
	})
	return out, false, err
}

// apply performs a server-side apply with structured-merge-diff.
func (s *Store) apply(ctx context.Context, ns, name string, patch []byte, o PatchOptions) (runtime.Object, bool, error) {
	if o.FieldManager == "" {
		return nil, false, apierrors.NewBadRequest("PATCH requests of type apply must specify fieldManager")
	}
	if s.res.Codec != nil {
		return nil, false, apierrors.NewMethodNotSupported(s.gr, "apply")
	}
	applied := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(patch, &applied.Object); err != nil {
		return nil, false, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	if applied.Object == nil {
		return nil, false, apierrors.NewBadRequest("apply patch is empty")
	}
	if gvk := applied.GroupVersionKind(); gvk != s.res.GVK() {
		return nil, false, apierrors.NewBadRequest(fmt.Sprintf("apply patch has apiVersion %q kind %q; this resource takes apiVersion %q kind %q",
			applied.GetAPIVersion(), applied.GetKind(), s.res.GVK().GroupVersion().String(), s.res.Kind))
	}
	if applied.GetName() != name {
		return nil, false, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", applied.GetName(), name))
	}
	if n := applied.GetNamespace(); s.res.Namespaced && n != "" && n != ns {
		return nil, false, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	fm, err := s.fieldManager(o.Subresource)
	if err != nil {
		return nil, false, apierrors.NewInternalError(err)
	}
	wo := o.WriteOptions
	wo.appliedManagedFields = true
	out, err := s.GuaranteedUpdate(ctx, ns, name, applied.GetResourceVersion(), wo, func(existing runtime.Object) (runtime.Object, error) {
		return fm.Apply(existing, applied, o.FieldManager, o.Force)
	})
	if !apierrors.IsNotFound(err) || o.Subresource != "" {
		return out, false, err
	}
	live := s.res.New()
	MetaOf(live).SetNamespace(ns)
	MetaOf(live).SetName(name)
	obj, err := fm.Apply(live, applied, o.FieldManager, o.Force)
	if err != nil {
		return nil, false, err
	}
	out, err = s.Create(ctx, ns, obj, wo)
	return out, err == nil, err
}
