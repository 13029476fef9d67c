package audio

import (
	"fmt"
	"time"
)

// MaxDecodeFrames bounds the sample frames (samples per channel) that a
// decoder produces from one input: 30 minutes at 48 kHz, about 346 MB as
// mono float32. Interleaved output of several channels is bounded by the
// caller's byte limit as well, because each input sample becomes one.
const MaxDecodeFrames = SampleRate * 60 * 30

// PCM is decoded audio: interleaved float32 samples in [-1,1].
type PCM struct {
	Rate     int // Rate is the sample rate in Hz.
	Channels int // Channels is the number of interleaved channels.
	Samples  []float32
}

// Frames returns the number of samples per channel.
func (p *PCM) Frames() int {
	if p.Channels <= 0 {
		return 0
	}
	return len(p.Samples) / p.Channels
}

// Duration returns the length of the audio, or 0 when Rate is not positive.
func (p *PCM) Duration() time.Duration {
	if p.Rate <= 0 {
		return 0
	}
	return time.Duration(int64(p.Frames()) * int64(time.Second) / int64(p.Rate))
}

// validate checks that p describes well-formed interleaved audio.
func (p *PCM) validate() error {
	if p.Rate <= 0 {
		return fmt.Errorf("invalid PCM sample rate %d: must be positive", p.Rate)
	}
	if p.Channels <= 0 {
		return fmt.Errorf("invalid PCM channel count %d: must be positive", p.Channels)
	}
	if len(p.Samples)%p.Channels != 0 {
		return fmt.Errorf("invalid PCM: %d samples is not a multiple of %d channels", len(p.Samples), p.Channels)
	}
	return nil
}

// ToMono averages the channels of p into a new mono PCM. Averaging keeps
// every output sample within the range of the inputs, so it never clips.
// ToMono returns p itself when p is already mono.
func ToMono(p *PCM) *PCM {
	if p.Channels <= 1 {
		return p
	}
	frames := p.Frames()
	out := make([]float32, frames)
	scale := 1 / float64(p.Channels)
	for i := range out {
		var sum float64
		for _, s := range p.Samples[i*p.Channels : (i+1)*p.Channels] {
			sum += float64(s)
		}
		out[i] = float32(sum * scale)
	}
	return &PCM{Rate: p.Rate, Channels: 1, Samples: out}
}
