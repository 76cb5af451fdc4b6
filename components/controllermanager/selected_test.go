package controllermanager

import (
	"context"
	"testing"

	"github.com/kubelab/kubelab/components/controllers"
)

func TestSelected(t *testing.T) {
	noop := func(context.Context, *controllers.Context) (controllers.Controller, error) { return nil, nil }
	for _, n := range []string{"test-a", "test-b"} {
		if lookup(n) == nil {
			Register(n, noop)
		}
	}
	for _, tc := range []struct {
		in      []string
		want    []string
		wantErr bool
	}{
		{[]string{"test-a"}, []string{"test-a"}, false},
		{[]string{"*", "-test-a"}, []string{"test-b"}, false},
		{[]string{"bogus"}, nil, true},
	} {
		got, err := selected(tc.in)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%v: err %v", tc.in, err)
		}
		if tc.wantErr {
			continue
		}
		if len(got) != len(tc.want) || got[0] != tc.want[0] {
			t.Fatalf("%v: got %v, want %v", tc.in, got, tc.want)
		}
	}
}
