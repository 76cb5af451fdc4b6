package authn

import (
	"errors"
	"net/http"
	"reflect"
	"testing"
)

func TestUnion(t *testing.T) {
	alice := AuthenticatorFunc(func(*http.Request) (*User, bool, error) {
		return &User{Name: "alice", Groups: []string{"devs"}}, true, nil
	})
	bob := AuthenticatorFunc(func(*http.Request) (*User, bool, error) {
		return &User{Name: "bob", Groups: []string{GroupAuthenticated}}, true, nil
	})
	none := AuthenticatorFunc(func(*http.Request) (*User, bool, error) { return nil, false, nil })
	invalid := AuthenticatorFunc(func(*http.Request) (*User, bool, error) {
		return nil, false, errors.New("bad credential")
	})

	tests := []struct {
		name    string
		as      []Authenticator
		want    *User
		wantErr bool
	}{
		{name: "empty"},
		{name: "no credentials", as: []Authenticator{none, none}},
		{name: "first success wins", as: []Authenticator{none, alice, bob},
			want: &User{Name: "alice", Groups: []string{"devs", GroupAuthenticated}}},
		{name: "authenticated added once", as: []Authenticator{bob},
			want: &User{Name: "bob", Groups: []string{GroupAuthenticated}}},
		{name: "invalid credential is an error", as: []Authenticator{none, invalid}, wantErr: true},
		{name: "another credential may still succeed", as: []Authenticator{invalid, alice},
			want: &User{Name: "alice", Groups: []string{"devs", GroupAuthenticated}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			u, ok, err := Union(tt.as...).Authenticate(r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if ok != (tt.want != nil) {
				t.Fatalf("ok = %v, want %v", ok, tt.want != nil)
			}
			if !reflect.DeepEqual(u, tt.want) {
				t.Errorf("user %+v, want %+v", u, tt.want)
			}
		})
	}
}

func TestUnionDoesNotModifyUser(t *testing.T) {
	shared := &User{Name: "alice", Groups: make([]string, 1, 4)}
	a := AuthenticatorFunc(func(*http.Request) (*User, bool, error) { return shared, true, nil })
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	if _, _, err := Union(a).Authenticate(r); err != nil {
		t.Fatal(err)
	}
	if len(shared.Groups) != 1 || shared.Groups[:2][1] != "" {
		t.Errorf("Union modified the authenticator's user: %v", shared.Groups[:2])
	}
}

func TestContext(t *testing.T) {
	if _, ok := UserFrom(t.Context()); ok {
		t.Error("empty context has a user")
	}
	want := &User{Name: "alice"}
	got, ok := UserFrom(WithUser(t.Context(), want))
	if !ok || got != want {
		t.Errorf("UserFrom = %v, %v", got, ok)
	}
}

func TestInGroup(t *testing.T) {
	tests := []struct {
		user  *User
		group string
		want  bool
	}{
		{user: &User{Groups: []string{GroupMasters}}, group: GroupMasters, want: true},
		{user: &User{Groups: []string{"devs"}}, group: GroupMasters},
		{user: nil, group: GroupMasters},
		{user: AnonymousUser(), group: GroupUnauthenticated, want: true},
	}
	for _, tt := range tests {
		if got := tt.user.InGroup(tt.group); got != tt.want {
			t.Errorf("%+v.InGroup(%q) = %v, want %v", tt.user, tt.group, got, tt.want)
		}
	}
}
