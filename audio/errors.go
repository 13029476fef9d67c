package audio

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrNotAudio reports input that is neither a WAV nor an Ogg Opus file, or
	// whose container structure is invalid (bad chunk layout, bad Ogg page CRC,
	// out-of-order granule positions).
	ErrNotAudio = errors.New("not a supported audio file")

	// ErrTruncated reports input that ends early or contains no samples.
	ErrTruncated = errors.New("truncated or empty audio")

	// ErrUnsupported reports a recognized container whose encoding, channel
	// layout or stream structure this package does not decode.
	ErrUnsupported = errors.New("unsupported audio format")

	// ErrTooLarge reports input longer than the caller's byte limit, or
	// audio longer than MaxDecodeFrames or the caller's duration limit.
	ErrTooLarge = errors.New("audio too large")
)

// kindError is an error that matches one of the sentinels above with
// errors.Is but whose text is its own message alone, so a message such as
// "empty WAV input" does not end in the sentinel's words as well.
type kindError struct {
	sentinel, err error
}

func (e kindError) Error() string   { return e.err.Error() }
func (e kindError) Unwrap() []error { return []error{e.sentinel, e.err} }

// kindErrorf returns a kindError of sentinel with a formatted message,
// which may wrap further errors with %w.
func kindErrorf(sentinel error, format string, args ...any) error {
	return kindError{sentinel, fmt.Errorf(format, args...)}
}

// TooLongError reports audio longer than the duration limit a caller
// passed. It matches ErrTooLarge.
type TooLongError struct {
	// Duration is the length of the audio when Exact is set. Otherwise the
	// input was not read to its end, and Duration is a lower bound.
	Duration time.Duration
	Exact    bool
	// Limit is the caller's limit.
	Limit time.Duration
}

func (e *TooLongError) Error() string {
	if !e.Exact {
		return fmt.Sprintf("audio lasts longer than the limit of %s", e.Limit)
	}
	return fmt.Sprintf("audio lasts %s, longer than the limit of %s", e.Duration, e.Limit)
}

// Is reports whether target is ErrTooLarge.
func (e *TooLongError) Is(target error) bool { return target == ErrTooLarge }
