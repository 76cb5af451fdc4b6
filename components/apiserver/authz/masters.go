package authz

import (
	"context"

	"github.com/kubelab/kubelab/components/apiserver/authn"
)

// NewMasters returns an Authorizer that allows every request of a member of
// system:masters, the group in the cluster admin's client certificate, and
// has no opinion on anyone else's.
func NewMasters() Authorizer {
	return AuthorizerFunc(func(_ context.Context, a Attributes) (Decision, string, error) {
		if a.User.InGroup(authn.GroupMasters) {
			return DecisionAllow, "", nil
		}
		return DecisionNoOpinion, "", nil
	})
}
