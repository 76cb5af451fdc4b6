package endpoints

import (
	"fmt"
	"net/url"
	"strconv"
	"unicode"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubelab/kubelab/components/apiserver/registry"
)

// listOptions parses the list and watch parameters of q.
func listOptions(q url.Values) (registry.WatchOptions, error) {
	var o registry.WatchOptions
	var err error
	if s := q.Get("labelSelector"); s != "" {
		if o.LabelSelector, err = labels.Parse(s); err != nil {
			return o, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
	}
	if s := q.Get("fieldSelector"); s != "" {
		if o.FieldSelector, err = fields.ParseSelector(s); err != nil {
			return o, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
	}
	if s := q.Get("limit"); s != "" {
		if o.Limit, err = strconv.ParseInt(s, 10, 64); err != nil || o.Limit < 0 {
			return o, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q", s))
		}
	}
	o.Continue = q.Get("continue")
	o.ResourceVersion = q.Get("resourceVersion")
	o.ResourceVersionMatch = metav1.ResourceVersionMatch(q.Get("resourceVersionMatch"))
	if b, ok, err := boolParam(q, "allowWatchBookmarks"); err != nil {
		return o, err
	} else if ok {
		o.AllowBookmarks = b
	}
	if b, ok, err := boolParam(q, "sendInitialEvents"); err != nil {
		return o, err
	} else if ok {
		o.SendInitialEvents = &b
	}
	return o, nil
}

func boolParam(q url.Values, name string) (value, present bool, err error) {
	s, ok := q[name]
	if !ok || len(s) == 0 {
		return false, false, nil
	}
	b, perr := strconv.ParseBool(s[0])
	if perr != nil {
		return false, false, apierrors.NewBadRequest(fmt.Sprintf("invalid %s value %q", name, s[0]))
	}
	return b, true, nil
}

// writeOptions parses dryRun, fieldManager and fieldValidation.
func writeOptions(q url.Values, userAgent string) (registry.WriteOptions, string, error) {
	var o registry.WriteOptions
	for _, d := range q["dryRun"] {
		if d != metav1.DryRunAll {
			return o, "", apierrors.NewBadRequest(fmt.Sprintf("Invalid dryRun value %q: supported values are \"All\"", d))
		}
		o.DryRun = true
	}
	o.FieldManager = q.Get("fieldManager")
	if len(o.FieldManager) > 128 {
		return o, "", apierrors.NewBadRequest("fieldManager: Too long: may not be more than 128 bytes")
	}
	for _, r := range o.FieldManager {
		if !unicode.IsPrint(r) {
			return o, "", apierrors.NewBadRequest("fieldManager: Invalid value: invalid characters")
		}
	}
	if o.FieldManager == "" {
		o.FieldManager = managerFromUserAgent(userAgent)
	}
	validation := q.Get("fieldValidation")
	switch validation {
	case "", validationIgnore, validationWarn, validationStrict:
	default:
		return o, "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation: Unsupported value: %q: supported values: \"Ignore\", \"Strict\", \"Warn\"", validation))
	}
	return o, validation, nil
}

// managerFromUserAgent is upstream's default field manager: the user agent
// up to its first "/".
func managerFromUserAgent(ua string) string {
	for i, r := range ua {
		if r == '/' {
			ua = ua[:i]
			break
		}
	}
	if len(ua) > 128 {
		ua = ua[:128]
	}
	return ua
}

// deleteOptions merges DeleteOptions from the body (of contentType) and the query.
func deleteOptions(q url.Values, contentType string, body []byte) (*metav1.DeleteOptions, error) {
	o := &metav1.DeleteOptions{}
	if len(body) > 0 {
		if err := decodeOptions(contentType, body, o); err != nil {
			return nil, err
		}
	}
	if s := q.Get("gracePeriodSeconds"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid gracePeriodSeconds %q", s))
		}
		o.GracePeriodSeconds = &n
	}
	if s := q.Get("propagationPolicy"); s != "" {
		p := metav1.DeletionPropagation(s)
		o.PropagationPolicy = &p
	}
	if b, ok, err := boolParam(q, "orphanDependents"); err != nil {
		return nil, err
	} else if ok {
		o.OrphanDependents = &b
	}
	if o.PropagationPolicy != nil {
		switch *o.PropagationPolicy {
		case metav1.DeletePropagationOrphan, metav1.DeletePropagationBackground, metav1.DeletePropagationForeground:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy: Unsupported value: %q: supported values: \"Foreground\", \"Background\", \"Orphan\"", *o.PropagationPolicy))
		}
		if o.OrphanDependents != nil {
			return nil, apierrors.NewBadRequest("orphanDependents and propagationPolicy cannot be both set")
		}
	}
	for _, d := range append(q["dryRun"], o.DryRun...) {
		if d != metav1.DryRunAll {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("Invalid dryRun value %q: supported values are \"All\"", d))
		}
		o.DryRun = []string{metav1.DryRunAll}
	}
	return o, nil
}

// nameSelector narrows sel to the object called name.
func nameSelector(name string, sel fields.Selector) fields.Selector {
	one := fields.OneTermEqualSelector("metadata.name", name)
	if sel == nil || sel.Empty() {
		return one
	}
	return fields.AndSelectors(one, sel)
}
