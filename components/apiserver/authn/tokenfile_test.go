package authn

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeTokenFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNewTokenFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    map[string]User // token -> user
		wantErr string
	}{
		{
			name: "good",
			content: "admin-token,admin,1,\"system:masters,devs\"\n" +
				"\n" +
				"dev-token,dev,2,devs\n" +
				"nogroup-token,bot,3\n" +
				"spaced-token, carol , 4, \" a , b ,a\"\n",
			want: map[string]User{
				"admin-token":   {Name: "admin", UID: "1", Groups: []string{"system:masters", "devs"}},
				"dev-token":     {Name: "dev", UID: "2", Groups: []string{"devs"}},
				"nogroup-token": {Name: "bot", UID: "3"},
				"spaced-token":  {Name: "carol", UID: "4", Groups: []string{"a", "b"}},
			},
		},
		{name: "empty file", content: "", want: map[string]User{}},
		{name: "too few columns", content: "t1,alice,1\nt2,bob\n", wantErr: "line 2: want at least 3 columns"},
		{name: "empty token", content: "t1,alice,1\n\n,bob,2\n", wantErr: "line 3: empty token"},
		{name: "empty user", content: "t1,,1\n", wantErr: "line 1: empty user name"},
		{name: "duplicate token", content: "t1,alice,1\nt1,bob,2\n", wantErr: "line 2: token already used on line 1"},
		{name: "unterminated quote", content: "t1,alice,1,\"a,b\n", wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTokenFile(t, tt.content)
			a, err := NewTokenFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("error %v, want one naming %s and containing %q", err, path, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for token, want := range tt.want {
				got, ok, err := a.Authenticate(bearerRequest(token))
				if err != nil || !ok {
					t.Fatalf("token %s: ok=%v err=%v", token, ok, err)
				}
				if !reflect.DeepEqual(*got, want) {
					t.Errorf("token %s: user %+v, want %+v", token, *got, want)
				}
			}
		})
	}
}

func TestNewTokenFileMissing(t *testing.T) {
	if _, err := NewTokenFile(filepath.Join(t.TempDir(), "absent.csv")); err == nil {
		t.Error("expected an error for a missing file")
	}
}

func TestTokenFileAuthenticate(t *testing.T) {
	a, err := NewTokenFile(writeTokenFile(t, "secret,alice,uid-1,devs\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		header   string
		wantUser string
		wantOK   bool
		wantErr  bool
	}{
		{name: "valid", header: "Bearer secret", wantUser: "alice", wantOK: true},
		{name: "scheme is case-insensitive", header: "bearer secret", wantUser: "alice", wantOK: true},
		{name: "unknown token", header: "Bearer wrong", wantErr: true},
		{name: "token prefix", header: "Bearer secre", wantErr: true},
		{name: "no header", header: ""},
		{name: "basic auth", header: "Basic YWxpY2U6cHc="},
		{name: "empty bearer", header: "Bearer "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/api", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			u, ok, err := a.Authenticate(r)
			if (err != nil) != tt.wantErr || ok != tt.wantOK {
				t.Fatalf("ok=%v err=%v, want ok=%v err=%v", ok, err, tt.wantOK, tt.wantErr)
			}
			if ok && u.Name != tt.wantUser {
				t.Errorf("user %q, want %q", u.Name, tt.wantUser)
			}
		})
	}

	// Callers may modify the returned user without affecting later requests.
	u, _, _ := a.Authenticate(bearerRequest("secret"))
	u.Groups[0] = "system:masters"
	if u2, _, _ := a.Authenticate(bearerRequest("secret")); u2.Groups[0] != "devs" {
		t.Error("returned user shares its groups with the token table")
	}
}

func bearerRequest(token string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "/api", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}
