package audio

import "errors"

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
	// audio whose decoded form would exceed MaxDecodeSamples.
	ErrTooLarge = errors.New("audio too large")
)
