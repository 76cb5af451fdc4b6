// Package authn identifies the user behind an API request: from a client
// certificate signed by the cluster CA, or from a bearer token listed in a
// static token file. It answers who is asking; authz decides what they may do.
package authn

import (
	"context"
	"errors"
	"net/http"
	"slices"
)

// Well-known user and group names, as upstream Kubernetes spells them.
const (
	// GroupMasters is the group whose members may do anything.
	GroupMasters = "system:masters"
	// GroupAuthenticated is added to every authenticated user.
	GroupAuthenticated = "system:authenticated"
	// GroupUnauthenticated is the group of the anonymous user.
	GroupUnauthenticated = "system:unauthenticated"
	// Anonymous is the name given to requests without credentials when
	// anonymous access is enabled.
	Anonymous = "system:anonymous"
)

// User is an authenticated identity.
type User struct {
	// Name is the user name (a client certificate's common name).
	Name string
	// UID is a unique identifier; empty for certificate users.
	UID string
	// Groups the user belongs to (a client certificate's organizations).
	Groups []string
}

// InGroup reports whether u is a member of group.
func (u *User) InGroup(group string) bool {
	return u != nil && slices.Contains(u.Groups, group)
}

// AnonymousUser returns the user for requests that carry no credentials:
// system:anonymous in system:unauthenticated.
func AnonymousUser() *User {
	return &User{Name: Anonymous, Groups: []string{GroupUnauthenticated}}
}

// Authenticator finds the user of a request from one kind of credential.
// It returns false with a nil error when the request carries no credential of
// its kind, and an error when it carries one that is not valid.
type Authenticator interface {
	Authenticate(r *http.Request) (*User, bool, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (*User, bool, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*User, bool, error) { return f(r) }

// Union returns an Authenticator that asks each of as in turn and returns the
// first user found, with system:authenticated added to its groups. If none
// finds a user but some rejected a credential, the request fails with their
// errors (a 401), rather than falling through to anonymous access.
func Union(as ...Authenticator) Authenticator {
	return union(slices.Clone(as))
}

type union []Authenticator

func (u union) Authenticate(r *http.Request) (*User, bool, error) {
	var errs []error
	for _, a := range u {
		user, ok, err := a.Authenticate(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok && user != nil {
			return withGroup(user, GroupAuthenticated), true, nil
		}
	}
	if len(errs) > 0 {
		return nil, false, errors.Join(errs...)
	}
	return nil, false, nil
}

// withGroup returns a copy of u that is also in group.
func withGroup(u *User, group string) *User {
	out := *u
	out.Groups = slices.Clone(u.Groups)
	if !slices.Contains(out.Groups, group) {
		out.Groups = append(out.Groups, group)
	}
	return &out
}

type userKey struct{}

// WithUser returns a copy of ctx carrying u.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the user stored in ctx by WithUser.
func UserFrom(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(userKey{}).(*User)
	return u, ok && u != nil
}
