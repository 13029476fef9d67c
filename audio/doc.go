// Package audio decodes, resamples and encodes the audio of voice messages.
//
// It reads WAV and Ogg Opus files into [PCM], mixes channels to mono,
// resamples with libsoxr, encodes 20 ms Opus frames with libopus and writes
// Ogg Opus files that follow RFC 7845. The decoders of untrusted bytes take a
// size limit and return errors that wrap one of the sentinels in errors.go.
// The helpers in analysis.go compare two signals without cgo.
//
// For live talk it captures and plays 20 ms frames through PortAudio
// (OpenCapture, OpenPlayback). LivePlayer plays incoming voice frames
// through an adaptive JitterBuffer with Opus FEC recovery and loss
// concealment. Stretch speeds playback up with the pitch kept,
// ShortenSilences cuts long pauses, and Mixer sums several talkers.
package audio

const (
	// SampleRate is the Opus sample rate in Hz used for encoding and decoding.
	SampleRate = 48000

	// FrameSamples is the number of samples in one 20 ms Opus frame at SampleRate.
	FrameSamples = 960
)
