package proto

import "errors"

// ErrTooLarge is returned when a length prefix or a field exceeds its limit.
var ErrTooLarge = errors.New("message too large")

// ErrTruncated is returned when input ends inside a message.
var ErrTruncated = errors.New("truncated message")

// ErrMalformed is returned for input that does not follow the wire format.
var ErrMalformed = errors.New("malformed message")
