package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vm-voice/vm/proto/pb"
)

func TestRetry(t *testing.T) {
	transient := &RemoteError{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE}
	permanent := &RemoteError{Code: pb.ErrorCode_ERROR_CODE_NOT_FOUND}
	tests := []struct {
		name         string
		errs         []error // result of each attempt; nil after the list
		wantAttempts int
		wantElapsed  time.Duration
		wantErr      error
		wantExhaust  bool
	}{
		{name: "first try", wantAttempts: 1},
		{name: "one transient", errs: []error{transient}, wantAttempts: 2, wantElapsed: 500 * time.Millisecond},
		{
			name: "three transient", errs: []error{io.EOF, transient, ErrTimeout},
			wantAttempts: 4, wantElapsed: 3500 * time.Millisecond,
		},
		{
			name: "always transient", errs: []error{transient, transient, transient, transient, transient},
			wantAttempts: 4, wantElapsed: 3500 * time.Millisecond, wantErr: transient, wantExhaust: true,
		},
		{name: "permanent", errs: []error{permanent}, wantAttempts: 1, wantErr: permanent},
		{
			name: "permanent after transient", errs: []error{transient, permanent},
			wantAttempts: 2, wantElapsed: 500 * time.Millisecond, wantErr: permanent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				attempts := 0
				err := Retry(t.Context(), DefaultBackoff, nil, func(context.Context) error {
					attempts++
					if attempts <= len(tt.errs) {
						return tt.errs[attempts-1]
					}
					return nil
				})
				if attempts != tt.wantAttempts {
					t.Errorf("got %d attempts, want %d", attempts, tt.wantAttempts)
				}
				if got := time.Since(start); got != tt.wantElapsed {
					t.Errorf("got %s elapsed, want %s", got, tt.wantElapsed)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("got error %v, want %v", err, tt.wantErr)
				}
				var exhausted *RetryError
				if got := errors.As(err, &exhausted); got != tt.wantExhaust {
					t.Errorf("got RetryError %v, want %v", got, tt.wantExhaust)
				}
			})
		})
	}
}

func TestRetryStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		attempts := 0
		go func() {
			time.Sleep(700 * time.Millisecond)
			cancel()
		}()
		err := Retry(ctx, DefaultBackoff, nil, func(context.Context) error {
			attempts++
			return ErrTimeout
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if attempts != 2 {
			t.Errorf("got %d attempts, want 2", attempts)
		}
	})
}

func TestIsTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "unavailable", err: &RemoteError{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE}, want: true},
		{name: "wrapped unavailable", err: fmt.Errorf("send: %w", &RemoteError{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE}), want: true},
		{name: "not found", err: &RemoteError{Code: pb.ErrorCode_ERROR_CODE_NOT_FOUND}, want: false},
		{name: "too large", err: &RemoteError{Code: pb.ErrorCode_ERROR_CODE_TOO_LARGE}, want: false},
		{name: "key changed", err: &KeyChangedError{}, want: false},
		{name: "timeout", err: fmt.Errorf("x: %w", ErrTimeout), want: true},
		{name: "stream ended", err: io.ErrUnexpectedEOF, want: true},
		{name: "cancelled", err: context.Canceled, want: false},
		{name: "too long", err: ErrTooLong, want: false},
		{name: "bad response", err: ErrBadResponse, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTransient(tt.err); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
