package audio

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// zeroCrossingHz estimates the frequency of a tone from its rising zero
// crossings, skipping the first and last 50 ms.
func zeroCrossingHz(x []float32, rate int) float64 {
	edge := rate / 20
	x = x[edge : len(x)-edge]
	first, last, n := -1, -1, 0
	for i := 1; i < len(x); i++ {
		if x[i-1] < 0 && x[i] >= 0 {
			if first < 0 {
				first = i
			}
			last = i
			n++
		}
	}
	if n < 2 {
		return 0
	}
	return float64(n-1) * float64(rate) / float64(last-first)
}

func TestStretchKeepsPitch(t *testing.T) {
	tone := sine(440, SampleRate, 2*SampleRate, 0.5)
	for _, speed := range []float64{0.75, 1, 1.5, 2} {
		out := Stretch(tone, speed)

		wantLen := float64(len(tone)) / speed
		if got := float64(len(out)); math.Abs(got-wantLen)/wantLen > 0.02 {
			t.Errorf("speed %.2f: got %d samples, want %.0f within 2%%", speed, len(out), wantLen)
		}
		if got := zeroCrossingHz(out, SampleRate); math.Abs(got-440)/440 > 0.02 {
			t.Errorf("speed %.2f: got %.1f Hz, want 440 Hz within 2%%", speed, got)
		}
		if got, want := RMS(out[SampleRate/10:len(out)-SampleRate/10]), RMS(tone); math.Abs(got-want)/want > 0.05 {
			t.Errorf("speed %.2f: got RMS %.3f, want %.3f within 5%%", speed, got, want)
		}
	}
}

func TestStretchSpeech(t *testing.T) {
	speech := resampledMono(t, loadWAV(t, "speech-16k.wav")).Samples
	for _, speed := range []float64{1.5, 2} {
		out := Stretch(speech, speed)
		if got, want := len(out), int(math.Round(float64(len(speech))/speed)); got != want {
			t.Errorf("speed %.1f: got %d samples, want %d", speed, got, want)
		}
		// Time compression keeps the level of speech.
		if got, want := RMS(out), RMS(speech); math.Abs(got-want)/want > 0.1 {
			t.Errorf("speed %.1f: got RMS %.4f, want %.4f within 10%%", speed, got, want)
		}
		if peak := maxAbs(out); peak > 1 {
			t.Errorf("speed %.1f: got peak %.3f, want at most 1", speed, peak)
		}
	}
}

func TestStretchEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		in      []float32
		speed   float64
		wantLen int
	}{
		{"empty", nil, 1.5, 0},
		{"shorter than a segment", make([]float32, 500), 2, 250},
		{"speed below range clamps to 0.5", make([]float32, 4800), 0.1, 9600},
		{"speed above range clamps to 2", make([]float32, 4800), 8, 2400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(Stretch(tt.in, tt.speed)); got != tt.wantLen {
				t.Errorf("got %d samples, want %d", got, tt.wantLen)
			}
		})
	}
}

func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// concat joins signals.
func concat(parts ...[]float32) []float32 {
	var out []float32
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestShortenSilences(t *testing.T) {
	tone := func(d time.Duration) []float32 { return sine(300, SampleRate, int(d.Seconds()*SampleRate), 0.3) }
	quiet := func(d time.Duration) []float32 { return sine(300, SampleRate, int(d.Seconds()*SampleRate), 0.001) }
	tests := []struct {
		name string
		in   []float32
		want time.Duration
	}{
		{"long pause cut", concat(tone(time.Second), quiet(2*time.Second), tone(time.Second)), 2500 * time.Millisecond},
		{"short pause kept", concat(tone(time.Second), quiet(300*time.Millisecond), tone(time.Second)), 2300 * time.Millisecond},
		{"leading and trailing pauses cut", concat(quiet(time.Second), tone(time.Second), quiet(time.Second)), 2 * time.Second},
		{"all silence", quiet(3 * time.Second), 500 * time.Millisecond},
		{"no pause", tone(time.Second), time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ShortenSilences(tt.in, SampleRate, 500*time.Millisecond)
			got := time.Duration(len(out)) * time.Second / SampleRate
			if d := got - tt.want; d < -10*time.Millisecond || d > 10*time.Millisecond {
				t.Errorf("got %v, want %v within 10 ms", got, tt.want)
			}
		})
	}
}

func TestShortenSilencesKeepsSpeech(t *testing.T) {
	speech := resampledMono(t, loadWAV(t, "speech-16k.wav")).Samples
	half := len(speech) / 2
	in := concat(speech[:half], make([]float32, 2*SampleRate), speech[half:])

	out := ShortenSilences(in, SampleRate, 500*time.Millisecond)
	if saved := time.Duration(len(in)-len(out)) * time.Second / SampleRate; saved < 1500*time.Millisecond {
		t.Errorf("got %v shorter, want at least 1.5 s shorter after a 2 s pause", saved)
	}
	// Only pauses go, so the energy of the speech stays.
	if got, want := sumSquares(out), sumSquares(speech); math.Abs(got-want)/want > 0.01 {
		t.Errorf("got energy %.2f, want %.2f within 1%%", got, want)
	}
}

// BenchmarkStretch reports how many times faster than real time Stretch
// compresses the speech sample, measured on its output duration.
func BenchmarkStretch(b *testing.B) {
	speech := resampledMono(b, loadWAV(b, "speech-16k.wav")).Samples
	for _, speed := range []float64{1.5, 2} {
		b.Run(fmt.Sprintf("speed%.1f", speed), func(b *testing.B) {
			var out int
			for b.Loop() {
				out = len(Stretch(speech, speed))
			}
			played := float64(out) / SampleRate * float64(b.N)
			b.ReportMetric(played/b.Elapsed().Seconds(), "x_realtime")
		})
	}
}

// writeInPieces feeds in to write in pieces of random sizes up to 3000
// samples, then calls flush, and returns all the output.
func writeInPieces(r *rand.Rand, in []float32, write func([]float32) []float32, flush func() []float32) []float32 {
	var out []float32
	for len(in) > 0 {
		n := min(len(in), 1+r.IntN(3000))
		out = append(out, write(in[:n])...)
		in = in[n:]
	}
	return append(out, flush()...)
}

// speechWithPauses returns the speech sample with silence before it, in its
// middle and after it.
func speechWithPauses(t *testing.T) []float32 {
	speech := resampledMono(t, loadWAV(t, "speech-16k.wav")).Samples
	half := len(speech) / 2
	return concat(make([]float32, 30000), speech[:half], make([]float32, 2*SampleRate), speech[half:], make([]float32, 1234))
}

// The streaming forms must give the whole-buffer results sample for
// sample, whatever the pieces, so catch-up audio stretched piece by piece
// has no seams.
func TestStretcherMatchesStretch(t *testing.T) {
	in := speechWithPauses(t)
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 500, 959, 960, 961, 5000, len(in)} {
		for _, speed := range []float64{0.75, 1, 1.5, 2} {
			want := Stretch(in[:n], speed)
			s := NewStretcher(speed)
			for round := range 2 { // the second round checks that Flush starts a new stream
				got := writeInPieces(r, in[:n], s.Write, s.Flush)
				if !slices.Equal(got, want) {
					t.Fatalf("%d samples at speed %.2f, round %d: streamed output (%d samples) differs from Stretch (%d samples)",
						n, speed, round, len(got), len(want))
				}
			}
		}
	}
}

func TestSilenceShortenerMatchesShortenSilences(t *testing.T) {
	in := speechWithPauses(t)
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 479, 480, 481, 5000, len(in)} {
		for _, gap := range []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond} {
			want := ShortenSilences(in[:n], SampleRate, gap)
			s := NewSilenceShortener(SampleRate, gap)
			for round := range 2 {
				got := writeInPieces(r, in[:n], s.Write, s.Flush)
				if !slices.Equal(got, want) {
					t.Fatalf("%d samples, gap %v, round %d: streamed output (%d samples) differs from ShortenSilences (%d samples)",
						n, gap, round, len(got), len(want))
				}
			}
		}
	}
}

// A pause of any length costs the SilenceShortener the same memory.
func TestSilenceShortenerBoundsLongPause(t *testing.T) {
	s := NewSilenceShortener(SampleRate, 300*time.Millisecond)
	block := make([]float32, SampleRate/50)
	for range 50 * 60 { // a minute of silence
		if out := s.Write(block); len(out) != 0 {
			t.Fatalf("got %d samples during a pause, want them held until it ends", len(out))
		}
	}
	if got, limit := cap(s.pause), SampleRate; got > limit {
		t.Errorf("pause buffer grew to %d samples, want at most %d", got, limit)
	}
	if got, want := len(s.Flush()), int(0.3*SampleRate); got != want {
		t.Errorf("flushed %d samples, want %d", got, want)
	}
}
