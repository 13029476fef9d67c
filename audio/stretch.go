package audio

import "math"

// Speeds that Stretch accepts. It clamps other speeds to this range.
const (
	MinStretchSpeed = 0.5
	MaxStretchSpeed = 2.0
)

// Parameters of the WSOLA time-scale modification, in samples at 48 kHz.
const (
	// stretchWindow is the length of one Hann-windowed segment (20 ms),
	// longer than the pitch period of any voice.
	stretchWindow = 960
	// stretchHop is the output distance between segments: half a window,
	// where periodic Hann windows add up to one.
	stretchHop = stretchWindow / 2
	// stretchTolerance is how far (±5 ms) a segment may move from its
	// nominal input position to line up with the previous one. It covers
	// one pitch period of voices down to 100 Hz on each side.
	stretchTolerance = 240
	// stretchCoarseStep is the step of the first pass of the search, which
	// a second pass refines sample by sample.
	stretchCoarseStep = 4
)

// Stretch changes the duration of 48 kHz mono pcm by 1/speed and keeps its
// pitch, with WSOLA (waveform-similarity overlap-add). It copies 20 ms
// Hann-windowed segments from the input at speed times the output rate. It
// moves each segment by up to ±5 ms to where it best continues the previous
// one. The output has round(len(pcm)/speed) samples. Speed is clamped to
// [MinStretchSpeed, MaxStretchSpeed]. At speed 1, and for input shorter than
// one segment, Stretch returns a copy of the input cut or padded with
// silence to the output length.
func Stretch(pcm []float32, speed float64) []float32 {
	speed = min(max(speed, MinStretchSpeed), MaxStretchSpeed)
	outLen := int(math.Round(float64(len(pcm)) / speed))
	if speed == 1 || len(pcm) < stretchWindow {
		out := make([]float32, outLen)
		copy(out, pcm)
		return out
	}
	// Zeros after the input let segments and searches run past its end.
	in := make([]float32, len(pcm)+2*stretchWindow+2*stretchTolerance)
	copy(in, pcm)
	sum := make([]float32, outLen+stretchWindow)
	weight := make([]float32, outLen+stretchWindow)
	window := hannWindow(stretchWindow)
	prev := 0
	for k := 0; k*stretchHop < outLen; k++ {
		pos := 0
		if k > 0 {
			nominal := int(math.Round(float64(k*stretchHop) * speed))
			pos = bestContinuation(in, prev+stretchHop, nominal, len(pcm))
		}
		overlapAdd(sum, weight, in[pos:pos+stretchWindow], k*stretchHop, window)
		prev = pos
	}
	return normalizeOverlap(sum[:outLen], weight[:outLen])
}

// hannWindow returns a periodic Hann window of n samples.
func hannWindow(n int) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n)))
	}
	return w
}

// bestContinuation returns the input position within stretchTolerance of
// nominal whose first half window best matches the half window that follows
// the previous segment in the input (natural), by normalized correlation.
// Positions stay in [0, limit].
func bestContinuation(in []float32, natural, nominal, limit int) int {
	lo := min(max(nominal-stretchTolerance, 0), limit)
	hi := min(max(nominal+stretchTolerance, 0), limit)
	want := in[natural : natural+stretchHop]
	best, bestScore := nominal, math.Inf(-1)
	if best > limit {
		best = limit
	}
	for c := lo; c <= hi; c += stretchCoarseStep {
		if s := similarity(want, in[c:c+stretchHop]); s > bestScore {
			best, bestScore = c, s
		}
	}
	center := best
	for c := max(center-stretchCoarseStep+1, lo); c <= min(center+stretchCoarseStep-1, hi); c++ {
		if s := similarity(want, in[c:c+stretchHop]); s > bestScore {
			best, bestScore = c, s
		}
	}
	return best
}

// similarity returns the correlation of want with candidate, divided by the
// candidate's RMS so that loud positions do not win by loudness alone.
func similarity(want, candidate []float32) float64 {
	var dot, energy float64
	for i, w := range want {
		c := float64(candidate[i])
		dot += float64(w) * c
		energy += c * c
	}
	return dot / math.Sqrt(energy+1e-9)
}

// overlapAdd adds segment times window to sum at offset at, and the window
// itself to weight.
func overlapAdd(sum, weight, segment []float32, at int, window []float32) {
	for i, w := range window {
		sum[at+i] += segment[i] * w
		weight[at+i] += w
	}
}

// normalizeOverlap divides sum by weight where the windows overlap enough
// to divide safely, and returns sum.
func normalizeOverlap(sum, weight []float32) []float32 {
	for i, w := range weight {
		if w > 1e-3 {
			sum[i] /= w
		}
	}
	return sum
}
