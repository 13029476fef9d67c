package audio

import (
	"math"
	"sync"
)

// limitKnee is the level above which SoftLimit starts to compress.
const limitKnee = 0.8

// MixSource produces one 20 ms frame per call into out, which holds
// FrameSamples samples, and reports whether it has more. A source that
// returns false is removed from its Mixer after that frame.
type MixSource interface {
	NextFrame(out []float32) bool
}

// MixSourceFunc adapts a function to MixSource.
type MixSourceFunc func(out []float32) bool

// NextFrame calls f.
func (f MixSourceFunc) NextFrame(out []float32) bool { return f(out) }

// Mixer sums the frames of several sources, such as the live players of
// people talking at once, into one frame for the output device, and limits
// the sum so that no sample exceeds ±1. Its methods are safe for concurrent
// use.
type Mixer struct {
	mu      sync.Mutex // mu guards sources and frame.
	sources []MixSource
	frame   []float32
}

// NewMixer returns a Mixer with no sources.
func NewMixer() *Mixer {
	return &Mixer{frame: make([]float32, FrameSamples)}
}

// Add adds a source to the mix from the next frame on.
func (m *Mixer) Add(src MixSource) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sources = append(m.sources, src)
}

// Len returns the number of sources in the mix.
func (m *Mixer) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sources)
}

// Mix fills out, which must hold FrameSamples samples, with the next frame
// of every source summed and soft-limited, drops finished sources, and
// returns how many remain. With no sources out is silence. Sources are
// called with the Mixer locked, so they must not call the Mixer.
func (m *Mixer) Mix(out []float32) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(out)
	kept := m.sources[:0]
	for _, src := range m.sources {
		clear(m.frame)
		more := src.NextFrame(m.frame)
		for i, v := range m.frame[:len(out)] {
			out[i] += v
		}
		if more {
			kept = append(kept, src)
		}
	}
	clear(m.sources[len(kept):])
	m.sources = kept
	SoftLimit(out)
	return len(kept)
}

// SoftLimit compresses samples in place so that each lies strictly within
// ±1. Samples within ±0.8 are unchanged and NaN becomes 0. Larger samples
// approach ±1 along a tanh curve whose slope is 1 at the knee, so the
// waveform has no corner.
func SoftLimit(samples []float32) {
	const room = 1 - limitKnee
	for i, v := range samples {
		a := math.Abs(float64(v))
		if math.IsNaN(a) {
			samples[i] = 0
			continue
		}
		if a <= limitKnee {
			continue
		}
		y := limitKnee + room*math.Tanh((a-limitKnee)/room)
		// Keep one float32 step below 1, since tanh of a large input rounds to 1.
		y = math.Min(y, 1-1e-6)
		samples[i] = float32(math.Copysign(y, float64(v)))
	}
}
