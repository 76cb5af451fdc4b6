package app

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
)

// TestWatchCacheFlag checks that --watch-cache (on by default, as
// upstream's) decides whether stores serve reads from a watch cache, and
// that events never get one (upstream sizes their cache 0).
func TestWatchCacheFlag(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"default", nil, true},
		{"off", []string{"--watch-cache=false"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if o.WatchCache != tc.want {
				t.Fatalf("WatchCache %t after %v, want %t", o.WatchCache, tc.args, tc.want)
			}
			o.BindAddress, o.SecurePort, o.DataDir, o.EtcdUnsafeNoFsync = "127.0.0.1", 0, filepath.Join(t.TempDir(), "apiserver"), true
			ctx, cancel := context.WithCancel(t.Context())
			s, err := New(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("shutdown: %v", err)
				}
			}()
			<-s.Ready()
			for gvr, want := range map[string]bool{
				"/v1, Resource=pods":                tc.want,
				"apps/v1, Resource=deployments":     tc.want,
				"/v1, Resource=events":              false,
				"events.k8s.io/v1, Resource=events": false,
			} {
				st := s.Store(gvr)
				if st == nil {
					t.Fatalf("no store %s", gvr)
				}
				if got := st.CacheStats().Enabled; got != want {
					t.Errorf("%s: watch cache %t, want %t", gvr, got, want)
				}
			}
		})
	}
}
