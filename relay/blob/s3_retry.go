package blob

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
)

// Backoff delays between attempts of a failed S3 request.
const (
	retryBaseDelay = 200 * time.Millisecond
	retryMaxDelay  = 5 * time.Second
)

// retryPolicy repeats S3 requests that failed with a transient error,
// waiting an exponentially growing, jittered delay between attempts.
type retryPolicy struct {
	retries int           // repeats after the first attempt
	base    time.Duration // delay before the first retry, before jitter
	max     time.Duration // cap on any delay
	// sleep waits for d or until ctx ends. Tests replace it or run it in a
	// synctest bubble.
	sleep func(ctx context.Context, d time.Duration) error
	// randInt64N returns a random number in [0, n).
	randInt64N func(n int64) int64
}

func newRetryPolicy(retries int) retryPolicy {
	return retryPolicy{
		retries:    retries,
		base:       retryBaseDelay,
		max:        retryMaxDelay,
		sleep:      sleepContext,
		randInt64N: rand.Int64N,
	}
}

// delay returns the wait before retry number n, counted from 0. The
// exponential step base·2ⁿ is capped at max, and the delay is drawn
// uniformly from its upper half, so retries from many writers spread out
// while each still waits at least half the step.
func (p retryPolicy) delay(n int) time.Duration {
	step := p.max
	if n < 32 && p.base<<n < p.max {
		step = p.base << n
	}
	half := step / 2
	return half + time.Duration(p.randInt64N(int64(step-half)+1))
}

// do calls f until it succeeds, fails with an error that is not
// transient, or has failed retries+1 times. It logs each retry with the
// operation op and the object key.
func (p retryPolicy) do(ctx context.Context, log *slog.Logger, op, key string, f func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		if p.retries == 0 {
			return err
		}
		if attempt > p.retries {
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		d := p.delay(attempt - 1)
		log.Warn("s3 request failed, retrying", "op", op, "key", key, "attempt", attempt, "dur", d, "err", err)
		if serr := p.sleep(ctx, d); serr != nil {
			return fmt.Errorf("%w after %d attempts, last error: %w", serr, attempt, err)
		}
	}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transient reports whether a request that failed with err may succeed
// when repeated: network errors, throttling, timeouts and 5xx responses.
// Cancellation, certificate errors and other 4xx responses are permanent.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return transientResponse(resp)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

func transientResponse(resp minio.ErrorResponse) bool {
	switch resp.Code {
	case "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "OperationAborted":
		return true
	}
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
}
