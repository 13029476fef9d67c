package audio

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func noise(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.Float64()*2 - 1)
	}
	return out
}

func TestCorrelateFindsLag(t *testing.T) {
	ref := noise(SampleRate, 1)
	tests := []struct {
		name    string
		shift   int
		scale   float32
		minCorr float64
	}{
		{"identical", 0, 1, 0.999999},
		{"delayed", 480, 1, 0.99},
		{"advanced", -123, 1, 0.99},
		{"quieter", 37, 0.25, 0.99},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make([]float32, len(ref))
			for i := range got {
				if j := i - tt.shift; j >= 0 && j < len(ref) {
					got[i] = ref[j] * tt.scale
				}
			}
			corr, lag := Correlate(ref, got, SampleRate, 0.05)
			if lag != tt.shift {
				t.Errorf("lag: got %d, want %d", lag, tt.shift)
			}
			if corr < tt.minCorr {
				t.Errorf("correlation: got %.6f, want >= %g", corr, tt.minCorr)
			}
		})
	}
}

func TestCorrelateUnrelatedIsLow(t *testing.T) {
	corr, _ := Correlate(noise(SampleRate, 1), noise(SampleRate, 2), SampleRate, 0.05)
	if corr > 0.05 {
		t.Errorf("correlation of independent noise: got %.4f, want <= 0.05", corr)
	}
}

func TestCorrelateSilence(t *testing.T) {
	corr, lag := Correlate(make([]float32, 100), noise(100, 1), SampleRate, 0.05)
	if corr != 0 || lag != 0 {
		t.Errorf("silent reference: got (%g, %d), want (0, 0)", corr, lag)
	}
}

func TestCorrelateFiveSecondsIsFast(t *testing.T) {
	ref, got := noise(5*SampleRate, 1), noise(5*SampleRate, 2)
	start := time.Now()
	Correlate(ref, got, SampleRate, 0.5)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Correlate of 5 s at 48 kHz: got %v, want under 2 s", elapsed)
	}
}

func TestRMS(t *testing.T) {
	tests := []struct {
		name string
		x    []float32
		want float64
	}{
		{"empty", nil, 0},
		{"constant", []float32{-0.5, 0.5, 0.5}, 0.5},
		{"sine", sine(1000, SampleRate, SampleRate, 1), 1 / math.Sqrt2},
	}
	for _, tt := range tests {
		if got := RMS(tt.x); math.Abs(got-tt.want) > 1e-6 {
			t.Errorf("RMS(%s): got %g, want %g", tt.name, got, tt.want)
		}
	}
}

func TestSegmentCorrelationAcrossInsertedGap(t *testing.T) {
	ref := resampledMono(t, loadWAV(t, "speech-16k.wav")).Samples
	mid := len(ref) / 2
	got := append(append(slices.Clone(ref[:mid]), make([]float32, 960)...), ref[mid:]...)

	global, _ := Correlate(ref, got, SampleRate, 0.5)
	segmented := SegmentCorrelation(ref, got, SampleRate, 0.2, 0.1)
	if segmented < 0.99 {
		t.Errorf("got segment correlation %.3f across a 20 ms gap, want at least 0.99", segmented)
	}
	if segmented <= global {
		t.Errorf("got segment correlation %.3f, want more than the global %.3f", segmented, global)
	}
	if got := SegmentCorrelation(make([]float32, 1000), got, SampleRate, 0.2, 0.1); got != 0 {
		t.Errorf("got %.3f for a silent reference, want 0", got)
	}
}
