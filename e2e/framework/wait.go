package framework

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Condition reports whether what a wait waits for holds. state describes
// what it saw, for the timeout error; a non-nil err ends the wait at once
// (something that cannot change any more, such as a pod that failed when
// it should succeed). Transient API errors belong in state, not err.
type Condition func(ctx context.Context) (done bool, state string, err error)

// WaitFor polls cond every TestContext.Poll until it is done, it returns
// an error, ctx ends or timeout passes. The error names what was awaited,
// how long it took and the last state seen.
func WaitFor(ctx context.Context, desc string, timeout time.Duration, cond Condition) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollInterval())
	defer tick.Stop()
	last := ""
	for {
		done, state, err := cond(ctx)
		if state != "" && ctx.Err() == nil {
			last = state
		}
		if err != nil {
			return fmt.Errorf("waiting for %s: gave up after %s: %w (last state: %s)", desc, time.Since(start).Round(time.Millisecond), err, last)
		}
		if done {
			Logf("%s: done after %s", desc, time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			why := "timed out"
			if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				why = context.Cause(ctx).Error()
			}
			return fmt.Errorf("waiting for %s: %s after %s (timeout %s); last state: %s", desc, why, time.Since(start).Round(time.Millisecond), timeout, last)
		case <-tick.C:
		}
	}
}

// Consistently polls cond for the whole of d and returns an error as soon
// as it does not hold: the opposite of WaitFor, for "never becomes X".
func Consistently(ctx context.Context, desc string, d time.Duration, cond Condition) error {
	start := time.Now()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval())
	defer tick.Stop()
	for {
		ok, state, err := cond(ctx)
		if err != nil {
			return fmt.Errorf("checking %s: %w (state: %s)", desc, err, state)
		}
		if !ok {
			return fmt.Errorf("%s stopped holding after %s: %s", desc, time.Since(start).Round(time.Millisecond), state)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("checking %s: %w", desc, ctx.Err())
		case <-deadline.C:
			return nil
		case <-tick.C:
		}
	}
}

func pollInterval() time.Duration {
	if TestContext.Poll > 0 {
		return TestContext.Poll
	}
	return 250 * time.Millisecond
}
