package blob

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/minio/minio-go/v7"
)

var (
	errSlowDown     = minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}
	errAccessDenied = minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}
)

// testPolicy returns a policy whose delays are the lower bound of each
// jitter range: 100ms, 200ms, 400ms, 800ms, then the 1s cap.
func testPolicy(retries int) retryPolicy {
	p := newRetryPolicy(retries)
	p.base = 200 * time.Millisecond
	p.max = 2 * time.Second
	p.randInt64N = func(n int64) int64 { return 0 }
	return p
}

func TestRetryDo(t *testing.T) {
	tests := []struct {
		name         string
		retries      int
		errs         []error // results of successive attempts, then nil
		wantAttempts int
		wantElapsed  time.Duration
		wantErr      error
	}{
		{"success", 4, nil, 1, 0, nil},
		{"two transient", 4, []error{errSlowDown, errSlowDown}, 3, 300 * time.Millisecond, nil},
		{"permanent", 4, []error{errAccessDenied}, 1, 0, errAccessDenied},
		{"transient then permanent", 4, []error{errSlowDown, errAccessDenied}, 2, 100 * time.Millisecond, errAccessDenied},
		{"exhausted", 2, []error{errSlowDown, errSlowDown, errSlowDown, errSlowDown}, 3, 300 * time.Millisecond, errSlowDown},
		{"capped delay", 6, []error{errSlowDown, errSlowDown, errSlowDown, errSlowDown, errSlowDown, errSlowDown}, 7, 3500 * time.Millisecond, nil},
		{"no retries", 0, []error{errSlowDown}, 1, 0, errSlowDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				attempts := 0
				start := time.Now()
				err := testPolicy(tt.retries).do(t.Context(), slog.New(slog.DiscardHandler), "put", "k", func(context.Context) error {
					attempts++
					if attempts <= len(tt.errs) {
						return tt.errs[attempts-1]
					}
					return nil
				})
				elapsed := time.Since(start)
				if attempts != tt.wantAttempts {
					t.Errorf("attempts = %d, want %d", attempts, tt.wantAttempts)
				}
				if elapsed != tt.wantElapsed {
					t.Errorf("elapsed = %v, want %v", elapsed, tt.wantElapsed)
				}
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
			})
		})
	}
}

func TestRetryDoContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
		defer cancel()
		attempts := 0
		start := time.Now()
		err := testPolicy(10).do(ctx, slog.New(slog.DiscardHandler), "put", "k", func(context.Context) error {
			attempts++
			return errSlowDown
		})
		if d := time.Since(start); d != 250*time.Millisecond {
			t.Errorf("elapsed = %v, want 250ms, the context timeout", d)
		}
		if attempts != 2 {
			t.Errorf("attempts = %d, want 2 (at 0 and 100ms, then a 200ms wait cut short)", attempts)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
		}
		if !errors.Is(err, errSlowDown) {
			t.Errorf("err = %v, want it to wrap the last request error", err)
		}
	})
}

func TestRetryDelayRange(t *testing.T) {
	tests := []struct {
		retry    int
		min, max time.Duration
	}{
		{0, 100 * time.Millisecond, 200 * time.Millisecond},
		{1, 200 * time.Millisecond, 400 * time.Millisecond},
		{3, 800 * time.Millisecond, 1600 * time.Millisecond},
		{4, 1 * time.Second, 2 * time.Second},
		{40, 1 * time.Second, 2 * time.Second},
		{70, 1 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		p := testPolicy(4)
		p.randInt64N = func(n int64) int64 { return 0 }
		if got := p.delay(tt.retry); got != tt.min {
			t.Errorf("delay(%d) with the lowest jitter = %v, want %v", tt.retry, got, tt.min)
		}
		p.randInt64N = func(n int64) int64 { return n - 1 }
		if got := p.delay(tt.retry); got != tt.max {
			t.Errorf("delay(%d) with the highest jitter = %v, want %v", tt.retry, got, tt.max)
		}
	}
}

func TestRetryDelayJitterSpread(t *testing.T) {
	p := newRetryPolicy(4)
	seen := map[time.Duration]bool{}
	for range 100 {
		d := p.delay(2)
		if d < 400*time.Millisecond || d > 800*time.Millisecond {
			t.Fatalf("delay(2) = %v, want 400ms to 800ms", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("distinct delays in 100 draws = %d, want at least 10", len(seen))
	}
}

func TestTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{errSlowDown, true},
		{minio.ErrorResponse{Code: "RequestTimeout", StatusCode: 400}, true},
		{minio.ErrorResponse{Code: "InternalError", StatusCode: 500}, true},
		{minio.ErrorResponse{Code: "BadGateway", StatusCode: 502}, true},
		{minio.ErrorResponse{Code: "TooManyRequests", StatusCode: 429}, true},
		{fmt.Errorf("wrapped: %w", errSlowDown), true},
		{&url.Error{Op: "Put", URL: "http://127.0.0.1:1", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, true},
		{syscall.ECONNRESET, true},
		{io.ErrUnexpectedEOF, true},
		{errAccessDenied, false},
		{minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, false},
		{minio.ErrorResponse{Code: "SignatureDoesNotMatch", StatusCode: 403}, false},
		{context.Canceled, false},
		{&url.Error{Op: "Get", URL: "http://127.0.0.1:1", Err: context.DeadlineExceeded}, false},
		{&url.Error{Op: "Get", URL: "https://127.0.0.1:1", Err: &tls.CertificateVerificationError{Err: errors.New("unknown authority")}}, false},
		{errors.New("read spool file: bad file descriptor"), false},
	}
	for _, tt := range tests {
		if got := transient(tt.err); got != tt.want {
			t.Errorf("transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
