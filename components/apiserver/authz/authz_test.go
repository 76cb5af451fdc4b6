package authz

import (
	"context"
	"errors"
	"net/http"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubelab/kubelab/components/apiserver/authn"
)

// fixed returns an Authorizer with a fixed answer.
func fixed(d Decision, reason string, err error) Authorizer {
	return AuthorizerFunc(func(context.Context, Attributes) (Decision, string, error) { return d, reason, err })
}

func TestUnion(t *testing.T) {
	var (
		allow  = fixed(DecisionAllow, "allowed by a", nil)
		deny   = fixed(DecisionDeny, "denied by b", nil)
		none   = fixed(DecisionNoOpinion, "", nil)
		noneR  = fixed(DecisionNoOpinion, "no binding", nil)
		failed = fixed(DecisionNoOpinion, "", errors.New("lister not synced"))
	)
	tests := []struct {
		name       string
		as         []Authorizer
		want       Decision
		wantReason string
		wantErr    bool
	}{
		{name: "empty", want: DecisionDeny},
		{name: "allow", as: []Authorizer{allow}, want: DecisionAllow, wantReason: "allowed by a"},
		{name: "deny", as: []Authorizer{deny}, want: DecisionDeny, wantReason: "denied by b"},
		{name: "no opinion", as: []Authorizer{none}, want: DecisionDeny},
		{name: "allow then deny", as: []Authorizer{allow, deny}, want: DecisionAllow, wantReason: "allowed by a"},
		{name: "deny then allow", as: []Authorizer{deny, allow}, want: DecisionDeny, wantReason: "denied by b"},
		{name: "no opinion then allow", as: []Authorizer{none, allow}, want: DecisionAllow, wantReason: "allowed by a"},
		{name: "no opinion then deny", as: []Authorizer{none, deny}, want: DecisionDeny, wantReason: "denied by b"},
		{name: "all no opinion, reasons joined", as: []Authorizer{noneR, none, noneR}, want: DecisionDeny,
			wantReason: "no binding; no binding"},
		{name: "error then allow", as: []Authorizer{failed, allow}, want: DecisionAllow, wantReason: "allowed by a"},
		{name: "error and no opinion", as: []Authorizer{failed, none}, want: DecisionDeny, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, err := Union(tt.as...).Authorize(t.Context(), Attributes{})
			if got != tt.want || reason != tt.wantReason || (err != nil) != tt.wantErr {
				t.Errorf("got (%v, %q, %v), want (%v, %q, error %v)", got, reason, err, tt.want, tt.wantReason, tt.wantErr)
			}
		})
	}
}

func TestMasters(t *testing.T) {
	tests := []struct {
		name string
		user *authn.User
		want Decision
	}{
		{name: "master", user: &authn.User{Name: "admin", Groups: []string{authn.GroupMasters, authn.GroupAuthenticated}}, want: DecisionAllow},
		{name: "ordinary user", user: &authn.User{Name: "alice", Groups: []string{authn.GroupAuthenticated}}, want: DecisionNoOpinion},
		{name: "user named like the group", user: &authn.User{Name: authn.GroupMasters}, want: DecisionNoOpinion},
		{name: "anonymous", user: authn.AnonymousUser(), want: DecisionNoOpinion},
		{name: "no user", want: DecisionNoOpinion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Attributes{User: tt.user, Verb: VerbDelete, Resource: "nodes", Name: "n1", ResourceRequest: true}
			got, _, err := NewMasters().Authorize(t.Context(), a)
			if err != nil || got != tt.want {
				t.Errorf("got %v (err %v), want %v", got, err, tt.want)
			}
			// Through a union, no opinion becomes a denial.
			if got, _, _ := Union(NewMasters()).Authorize(t.Context(), a); (got == DecisionAllow) != (tt.want == DecisionAllow) {
				t.Errorf("union: got %v", got)
			}
		})
	}
}

func TestAlways(t *testing.T) {
	tests := []struct {
		name string
		a    Authorizer
		want Decision
	}{
		{name: "allow", a: AlwaysAllow(), want: DecisionAllow},
		{name: "deny", a: AlwaysDeny(), want: DecisionDeny},
	}
	for _, tt := range tests {
		if got, _, err := tt.a.Authorize(t.Context(), Attributes{}); got != tt.want || err != nil {
			t.Errorf("%s: got %v, %v", tt.name, got, err)
		}
	}
}

func TestForbidden(t *testing.T) {
	alice := &authn.User{Name: "alice"}
	tests := []struct {
		name   string
		a      Attributes
		reason string
		want   string
	}{
		{
			name: "namespaced",
			a:    Attributes{User: alice, Verb: VerbList, Resource: "pods", Namespace: "default", ResourceRequest: true},
			want: `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"`,
		},
		{
			name:   "cluster scoped with name, group and reason",
			a:      Attributes{User: alice, Verb: VerbDelete, APIGroup: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: "admin", ResourceRequest: true},
			reason: "no binding",
			want:   `clusterroles.rbac.authorization.k8s.io "admin" is forbidden: User "alice" cannot delete resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope: no binding`,
		},
		{
			name: "subresource",
			a:    Attributes{User: alice, Verb: VerbGet, Resource: "pods", Subresource: "log", Namespace: "ns", Name: "p", ResourceRequest: true},
			want: `pods "p" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "ns"`,
		},
		{
			name: "non-resource path",
			a:    Attributes{User: authn.AnonymousUser(), Verb: "get", Path: "/metrics"},
			want: `forbidden: User "system:anonymous" cannot get path "/metrics"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Forbidden(tt.a, tt.reason)
			if err.Error() != tt.want {
				t.Errorf("message\n got %s\nwant %s", err.Error(), tt.want)
			}
			if !apierrors.IsForbidden(err) || err.Status().Code != http.StatusForbidden {
				t.Errorf("not a 403 Forbidden: %+v", err.Status())
			}
		})
	}
}

func TestDecisionString(t *testing.T) {
	for d, want := range map[Decision]string{DecisionDeny: "deny", DecisionAllow: "allow", DecisionNoOpinion: "no-opinion", 7: "unknown"} {
		if got := d.String(); got != want {
			t.Errorf("Decision(%d).String() = %q, want %q", int(d), got, want)
		}
	}
}
