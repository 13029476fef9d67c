package audio

import (
	"math"
	"testing"
)

// constantSource returns a source that plays n frames of a constant value.
func constantSource(v float32, n int) MixSource {
	return MixSourceFunc(func(out []float32) bool {
		for i := range out {
			out[i] = v
		}
		n--
		return n > 0
	})
}

func TestMixerSumsAndRemovesSources(t *testing.T) {
	m := NewMixer()
	m.Add(constantSource(0.1, 2))
	m.Add(constantSource(0.2, 1))
	out := make([]float32, FrameSamples)

	tests := []struct {
		wantValue float32
		wantLeft  int
	}{
		{0.3, 1},
		{0.1, 0},
		{0, 0},
	}
	for i, tt := range tests {
		left := m.Mix(out)
		if left != tt.wantLeft {
			t.Errorf("frame %d: got %d sources left, want %d", i, left, tt.wantLeft)
		}
		if got := out[0]; math.Abs(float64(got-tt.wantValue)) > 1e-6 {
			t.Errorf("frame %d: got sample %.3f, want %.3f", i, got, tt.wantValue)
		}
	}
	if got := m.Len(); got != 0 {
		t.Errorf("got Len %d, want 0", got)
	}
}

func TestMixerNeverClips(t *testing.T) {
	m := NewMixer()
	for range 3 {
		m.Add(MixSourceFunc(func(out []float32) bool {
			copy(out, sine(440, SampleRate, FrameSamples, 0.9))
			return true
		}))
	}
	out := make([]float32, FrameSamples)
	m.Mix(out)
	if peak := maxAbs(out); peak >= 1 {
		t.Errorf("got peak %.6f from three loud sources, want below 1", peak)
	}
}

func TestSoftLimit(t *testing.T) {
	tests := []struct {
		in        float32
		wantBelow float64 // |out| < wantBelow
		wantAbove float64 // |out| > wantAbove
		wantExact bool
	}{
		{in: 0.5, wantExact: true},
		{in: -0.8, wantExact: true},
		{in: 0.9, wantBelow: 0.9, wantAbove: 0.8},
		{in: -1.5, wantBelow: 1, wantAbove: 0.95},
		{in: 100, wantBelow: 1, wantAbove: 0.99},
		{in: float32(math.Inf(1)), wantBelow: 1, wantAbove: 0.99},
		{in: float32(math.NaN()), wantBelow: 1e-9, wantAbove: -1},
	}
	for _, tt := range tests {
		x := []float32{tt.in}
		SoftLimit(x)
		got := math.Abs(float64(x[0]))
		if tt.wantExact {
			if x[0] != tt.in {
				t.Errorf("SoftLimit(%v) = %v, want it unchanged", tt.in, x[0])
			}
			continue
		}
		if got >= tt.wantBelow || got <= tt.wantAbove {
			t.Errorf("SoftLimit(%v) = %v, want magnitude in (%v, %v)", tt.in, x[0], tt.wantAbove, tt.wantBelow)
		}
		if tt.in < 0 && x[0] > 0 {
			t.Errorf("SoftLimit(%v) = %v, want the sign kept", tt.in, x[0])
		}
	}
}
