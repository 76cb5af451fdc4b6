// Package authz decides whether an authenticated user may perform a request.
// Authorizers are chained with Union: the first that allows or denies
// decides, and a request no authorizer has an opinion on is denied. NewMasters
// grants everything to system:masters; RBAC plugs in as another Authorizer.
//
// Parsing a request into Attributes belongs to the endpoints package.
package authz

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/kubelab/kubelab/components/apiserver/authn"
)

// API verbs as authorizers see them (HTTP GET on a collection is "list",
// with ?watch=true "watch", and so on).
const (
	VerbGet              = "get"
	VerbList             = "list"
	VerbWatch            = "watch"
	VerbCreate           = "create"
	VerbUpdate           = "update"
	VerbPatch            = "patch"
	VerbDelete           = "delete"
	VerbDeleteCollection = "deletecollection"
)

// Attributes describe one request to be authorized.
type Attributes struct {
	// User is the authenticated (or anonymous) user.
	User *authn.User
	// Verb is one of the Verb constants for resource requests, or the
	// lower-cased HTTP method for other paths.
	Verb string
	// APIGroup, APIVersion, Resource, Subresource, Namespace and Name locate
	// the object of a resource request; APIGroup is "" for the core group.
	APIGroup, APIVersion, Resource, Subresource, Namespace, Name string
	// ResourceRequest is false for non-resource paths (/healthz, /version).
	ResourceRequest bool
	// Path is the request's URL path.
	Path string
}

// IsReadOnly reports whether the verb only reads (get, list, watch).
func (a Attributes) IsReadOnly() bool {
	return a.Verb == VerbGet || a.Verb == VerbList || a.Verb == VerbWatch
}

// Decision is an authorizer's answer.
type Decision int

const (
	// DecisionDeny forbids the request; later authorizers are not asked.
	DecisionDeny Decision = iota
	// DecisionAllow permits the request; later authorizers are not asked.
	DecisionAllow
	// DecisionNoOpinion leaves the request to the next authorizer.
	DecisionNoOpinion
)

// String returns "deny", "allow" or "no-opinion".
func (d Decision) String() string {
	switch d {
	case DecisionDeny:
		return "deny"
	case DecisionAllow:
		return "allow"
	case DecisionNoOpinion:
		return "no-opinion"
	}
	return "unknown"
}

// Authorizer decides on a request. The reason explains the decision and is
// shown to the user in a 403 response. An error means the authorizer could
// not decide (its decision is then NoOpinion).
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (Decision, string, error)
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, a Attributes) (Decision, string, error)

// Authorize calls f(ctx, a).
func (f AuthorizerFunc) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	return f(ctx, a)
}

// AlwaysAllow returns an Authorizer that allows everything
// (--authorization-mode=AlwaysAllow).
func AlwaysAllow() Authorizer {
	return AuthorizerFunc(func(context.Context, Attributes) (Decision, string, error) {
		return DecisionAllow, "", nil
	})
}

// AlwaysDeny returns an Authorizer that denies everything
// (--authorization-mode=AlwaysDeny).
func AlwaysDeny() Authorizer {
	return AuthorizerFunc(func(context.Context, Attributes) (Decision, string, error) {
		return DecisionDeny, "Everything is forbidden.", nil
	})
}

// Union returns an Authorizer that asks each of as in turn: the first Allow
// or Deny is the answer. When all have no opinion the answer is Deny, with
// their reasons joined and any errors they returned, so the server can tell
// a plain 403 from an authorizer that failed.
func Union(as ...Authorizer) Authorizer {
	return union(slices.Clone(as))
}

type union []Authorizer

func (u union) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	var (
		reasons []string
		errs    []error
	)
	for _, authz := range u {
		decision, reason, err := authz.Authorize(ctx, a)
		if err != nil {
			errs = append(errs, err)
		}
		if reason != "" {
			reasons = append(reasons, reason)
		}
		switch decision {
		case DecisionAllow, DecisionDeny:
			return decision, reason, err
		}
	}
	return DecisionDeny, strings.Join(reasons, "; "), errors.Join(errs...)
}
