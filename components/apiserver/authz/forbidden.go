package authz

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ForbiddenMessage describes a denied request the way upstream's API server
// does, for example `User "alice" cannot list resource "pods" in API group
// "" in the namespace "default"`, followed by ": reason" when there is one.
func ForbiddenMessage(a Attributes, reason string) string {
	username := ""
	if a.User != nil {
		username = a.User.Name
	}
	var msg string
	switch {
	case !a.ResourceRequest:
		msg = fmt.Sprintf("User %q cannot %s path %q", username, a.Verb, a.Path)
	default:
		resource := a.Resource
		if a.Subresource != "" {
			resource += "/" + a.Subresource
		}
		if a.Namespace != "" {
			msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q",
				username, a.Verb, resource, a.APIGroup, a.Namespace)
		} else {
			msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope",
				username, a.Verb, resource, a.APIGroup)
		}
	}
	if reason != "" {
		msg += ": " + reason
	}
	return msg
}

// Forbidden returns the 403 API error for a denied request, with upstream's
// reason (Forbidden) and message, ready for the endpoints to serialize.
func Forbidden(a Attributes, reason string) *apierrors.StatusError {
	gr := schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}
	return apierrors.NewForbidden(gr, a.Name, fmt.Errorf("%s", ForbiddenMessage(a, reason)))
}
