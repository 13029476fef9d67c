package client

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// DefaultBackoff is the wait before each repeat of a failed operation:
// four attempts in all, over about 3.5 seconds plus the attempts' own time.
var DefaultBackoff = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// RetryError is returned by Retry when every attempt failed with a
// transient error. Err is the last attempt's error.
type RetryError struct {
	Attempts int
	Err      error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("after %d attempts: %v", e.Attempts, e.Err)
}

func (e *RetryError) Unwrap() error { return e.Err }

// Retry calls op until it succeeds, fails with an error that IsTransient
// rejects, or has run len(backoff)+1 times, waiting backoff[i] before
// repeat i+1. It stops early when ctx ends and returns ctx's error. Each
// retry is logged at Info level with the error that caused it.
func Retry(ctx context.Context, backoff []time.Duration, log *slog.Logger, op func(ctx context.Context) error) error {
	attempts := len(backoff) + 1
	for i := 0; ; i++ {
		err := op(ctx)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("%w (last error: %w)", context.Cause(ctx), err)
		case !IsTransient(err):
			return err
		case i == attempts-1:
			return &RetryError{Attempts: attempts, Err: err}
		}
		if log != nil {
			log.Info("retrying", "attempt", i+2, "dur", backoff[i], "err", err)
		}
		t := time.NewTimer(backoff[i])
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", context.Cause(ctx), err)
		case <-t.C:
		}
	}
}
