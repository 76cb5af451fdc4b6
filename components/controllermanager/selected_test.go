package controllermanager

import (
	"context"
	"slices"
	"testing"

	"github.com/kubelab/kubelab/components/controllers"
)

func TestSelected(t *testing.T) {
	// The registrations outlive this test: control planes other tests
	// start run every registered controller, so these must run (idly).
	noop := func(context.Context, *controllers.Context) (controllers.Controller, error) { return idle{}, nil }
	for _, n := range []string{"test-a", "test-b"} {
		if lookup(n) == nil {
			Register(n, noop)
		}
	}
	// The test binary may link real controllers too (the external tests
	// import them all), so check membership rather than whole lists.
	for _, tc := range []struct {
		in       []string
		has, not []string
		wantErr  bool
	}{
		{in: []string{"test-a"}, has: []string{"test-a"}, not: []string{"test-b"}},
		{in: []string{"*", "-test-a"}, has: []string{"test-b"}, not: []string{"test-a"}},
		{in: []string{"bogus"}, wantErr: true},
	} {
		got, err := selected(tc.in)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%v: err %v", tc.in, err)
		}
		for _, n := range tc.has {
			if !slices.Contains(got, n) {
				t.Errorf("%v: %s not selected (got %v)", tc.in, n, got)
			}
		}
		for _, n := range tc.not {
			if slices.Contains(got, n) {
				t.Errorf("%v: %s selected (got %v)", tc.in, n, got)
			}
		}
	}
}

// idle is a controller that does nothing until its context ends.
type idle struct{}

func (idle) Run(ctx context.Context, _ int) { <-ctx.Done() }
