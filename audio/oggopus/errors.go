package oggopus

import "errors"

// ErrNotOgg is returned when the input does not start with an Ogg page.
var ErrNotOgg = errors.New("not an Ogg file")

// ErrInvalid is returned for input that breaks the Ogg or Ogg Opus rules.
var ErrInvalid = errors.New("invalid Ogg Opus data")

// ErrUnsupported is returned for valid streams this package does not
// handle: several logical streams, or a channel mapping other than 0.
var ErrUnsupported = errors.New("unsupported Ogg Opus stream")

// ErrTooLarge is returned when the input or one packet exceeds its limit.
var ErrTooLarge = errors.New("Ogg Opus data too large")

// ErrTruncated is returned when the input ends inside a page or packet,
// or before the header packets are complete.
var ErrTruncated = errors.New("truncated Ogg Opus data")
