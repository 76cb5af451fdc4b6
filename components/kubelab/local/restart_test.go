package local

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRestartable(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		// steps drive r while run runs f; f fails on its own when fail is
		// closed.
		steps func(t *testing.T, r *restartable, fail chan struct{})
		// wantRuns is how many times f ran; wantErr what run returned.
		wantRuns int32
		wantErr  error
	}{
		{
			name:     "stop and start twice",
			wantRuns: 3,
			steps: func(t *testing.T, r *restartable, _ chan struct{}) {
				for range 2 {
					mustNil(t, r.stop(t.Context()))
					if err := r.stop(t.Context()); !errors.Is(err, errNotRunning) {
						t.Errorf("second stop: %v, want errNotRunning", err)
					}
					mustNil(t, r.resume(t.Context()))
					if err := r.resume(t.Context()); !errors.Is(err, errRunning) {
						t.Errorf("second resume: %v, want errRunning", err)
					}
				}
			},
		},
		{
			name:     "failure ends the run",
			wantRuns: 1, wantErr: errBoom,
			steps: func(_ *testing.T, _ *restartable, fail chan struct{}) { close(fail) },
		},
		{
			name:     "stopped when the cluster stops",
			wantRuns: 1,
			steps:    func(t *testing.T, r *restartable, _ chan struct{}) { mustNil(t, r.stop(t.Context())) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r restartable
			var runs atomic.Int32
			running := make(chan struct{}, 10)
			fail := make(chan struct{})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- r.run(ctx, func(ctx context.Context) error {
					runs.Add(1)
					running <- struct{}{}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-fail:
						return errBoom
					}
				})
			}()
			<-running
			tt.steps(t, &r, fail)
			select {
			case err := <-done:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("run returned %v, want %v", err, tt.wantErr)
				}
			case <-time.After(100 * time.Millisecond):
				// The cluster stops; what f returns then does not matter.
				cancel()
				<-done
				if tt.wantErr != nil {
					t.Errorf("run still runs, want it to have returned %v", tt.wantErr)
				}
			}
			if got := runs.Load(); got != tt.wantRuns {
				t.Errorf("ran %d times, want %d", got, tt.wantRuns)
			}
			if err := r.stop(t.Context()); !errors.Is(err, errNotRunning) {
				t.Errorf("stop after the run ended: %v, want errNotRunning", err)
			}
		})
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
