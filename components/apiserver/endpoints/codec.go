package endpoints

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// Field validation levels of the fieldValidation parameter.
const (
	validationIgnore = "Ignore"
	validationWarn   = "Warn"
	validationStrict = "Strict"
)

var (
	jsonStrict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, kjson.SerializerOptions{Strict: true})
	yamlStrict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, kjson.SerializerOptions{Yaml: true, Strict: true})
	protoCodec = protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
)

// ContentTypeProtobuf is the Kubernetes protobuf media type.
const ContentTypeProtobuf = "application/vnd.kubernetes.protobuf"

// bodyDecoder decodes request bodies of one request: its content type and
// field validation level.
type bodyDecoder struct {
	yaml       bool
	proto      bool
	validation string
	warnings   *[]string
}

func newBodyDecoder(r *http.Request, validation string, warnings *[]string) (*bodyDecoder, error) {
	d := &bodyDecoder{validation: validation, warnings: warnings}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return d, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, unsupportedMediaType(ct)
	}
	switch mt {
	case "application/json", "*/*":
	case "application/yaml":
		d.yaml = true
	case ContentTypeProtobuf:
		d.proto = true
	default:
		return nil, unsupportedMediaType(ct)
	}
	return d, nil
}

func unsupportedMediaType(ct string) error {
	return &apierrors.StatusError{ErrStatus: unsupportedStatus(ct)}
}

// decode decodes data into into, checking that its apiVersion and kind (when
// present) are gvk's.
func (d *bodyDecoder) decode(data []byte, gvk schema.GroupVersionKind, into runtime.Object) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return apierrors.NewBadRequest("the request body is empty")
	}
	var ser runtime.Decoder = jsonStrict
	if d.yaml {
		ser = yamlStrict
	}
	if d.proto {
		ser = protoCodec
	}
	_, got, err := ser.Decode(data, &gvk, into)
	if err != nil {
		if !runtime.IsStrictDecodingError(err) {
			return apierrors.NewBadRequest(decodeMessage(err, gvk, data))
		}
		switch d.validation {
		case validationStrict:
			return apierrors.NewBadRequest(err.Error())
		case validationWarn, "":
			if se, ok := runtime.AsStrictDecodingError(err); ok {
				for _, e := range se.Errors() {
					*d.warnings = append(*d.warnings, e.Error())
				}
			}
		}
	}
	if got != nil && (got.Group != gvk.Group || got.Version != gvk.Version) {
		return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), gvk.GroupVersion()))
	}
	if got != nil && got.Kind != gvk.Kind {
		return apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", got.Kind, gvk.Kind))
	}
	return nil
}

func decodeMessage(err error, gvk schema.GroupVersionKind, data []byte) string {
	msg := err.Error()
	if runtime.IsNotRegisteredError(err) {
		return fmt.Sprintf("the body of the request was not a %s: %s", gvk.Kind, msg)
	}
	if strings.Contains(msg, "couldn't get version/kind") || strings.Contains(msg, "json parse error") {
		return "the object provided is unrecognized or malformed: " + msg
	}
	return msg
}

// readBody reads the request body; the server's filter chain limits its size.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var status apierrors.APIStatus
		if ok := asStatus(err, &status); ok {
			return nil, err
		}
		if strings.Contains(err.Error(), "too large") {
			return nil, apierrors.NewRequestEntityTooLargeError(err.Error())
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading request body: %v", err))
	}
	return data, nil
}

// decodeOptions decodes a small options object (DeleteOptions) sent as
// contentType: protobuf, as client-go's typed clients send it, or JSON/YAML.
func decodeOptions(contentType string, data []byte, into runtime.Object) error {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt == ContentTypeProtobuf {
		if _, _, err := protoCodec.Decode(data, nil, into); err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized or malformed: %v", err))
		}
		return nil
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized or malformed: %v", err))
	}
	return nil
}

// encodeJSON marshals v with a trailing newline.
func encodeJSON(v interface{}) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// schemeKinds returns the group, version and kind of a typed object.
func schemeKinds(obj runtime.Object) (schema.GroupVersionKind, bool, error) {
	gvks, unversioned, err := scheme.Scheme.ObjectKinds(obj)
	if err != nil {
		return schema.GroupVersionKind{}, false, err
	}
	return gvks[0], unversioned, nil
}
