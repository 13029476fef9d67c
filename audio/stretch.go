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
	// stretchPad is the silence appended at the end of the input so that
	// the last segments and their searches can run past it.
	stretchPad = 2*stretchWindow + 2*stretchTolerance
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
	s := NewStretcher(speed)
	out := s.Write(pcm)
	return append(out, s.Flush()...)
}

// Stretcher is Stretch for audio that arrives in pieces. The samples
// returned by its Write calls and the final Flush, put together, are the
// samples that Stretch returns for the whole input, whatever the size of
// the pieces, so a stream stretched piece by piece has no seams. Output
// trails input by about 30 ms of input (one segment and its search range).
// A Stretcher is not safe for concurrent use.
type Stretcher struct {
	speed  float64
	window []float32

	// in contains the input from absolute sample inBase on. inLen counts
	// all input written since the stream began.
	in     []float32
	inBase int
	inLen  int

	// next is the index of the next segment, and prev the absolute input
	// position of the last segment added.
	next int
	prev int

	// sum and weight accumulate the windowed segments and the windows
	// from absolute output sample outBase on.
	sum, weight []float32
	outBase     int
}

// NewStretcher returns a Stretcher at speed, clamped to
// [MinStretchSpeed, MaxStretchSpeed].
func NewStretcher(speed float64) *Stretcher {
	return &Stretcher{
		speed:  min(max(speed, MinStretchSpeed), MaxStretchSpeed),
		window: hannWindow(stretchWindow),
	}
}

// Write adds pcm to the stream and returns the output samples that no
// later input can change. The returned slice is new.
func (s *Stretcher) Write(pcm []float32) []float32 {
	if s.speed == 1 {
		s.inLen += len(pcm)
		return append([]float32(nil), pcm...)
	}
	s.in = append(s.in, pcm...)
	s.inLen += len(pcm)
	for s.inLen >= s.inputNeeded(s.next) {
		s.addSegment(s.inLen)
	}
	s.trimInput()
	return s.emit(s.next * stretchHop)
}

// Flush ends the stream and returns the rest of its output. The Stretcher
// then starts a new stream at the same speed.
func (s *Stretcher) Flush() []float32 {
	defer s.reset()
	if s.speed == 1 {
		return nil
	}
	outLen := int(math.Round(float64(s.inLen) / s.speed))
	if s.next == 0 && s.inLen < stretchWindow {
		out := make([]float32, outLen)
		copy(out, s.in)
		return out
	}
	s.in = append(s.in, make([]float32, stretchPad)...)
	for ; s.next*stretchHop < outLen; s.next++ {
		s.addSegment(s.inLen)
	}
	return s.emit(outLen)
}

func (s *Stretcher) reset() {
	*s = Stretcher{speed: s.speed, window: s.window}
}

// nominal returns the input position that segment k would take without
// the search.
func (s *Stretcher) nominal(k int) int {
	return int(math.Round(float64(k*stretchHop) * s.speed))
}

// inputNeeded returns how much input must have arrived before segment k
// can be placed without reading past it.
func (s *Stretcher) inputNeeded(k int) int {
	if k == 0 {
		return stretchWindow
	}
	return s.nominal(k) + stretchTolerance + stretchWindow
}

// addSegment places segment s.next, searching positions no later than
// limit, adds it to the output and advances s.next.
func (s *Stretcher) addSegment(limit int) {
	k := s.next
	pos := 0
	if k > 0 {
		// Positions are relative to s.in from here on.
		pos = s.inBase + bestContinuation(s.in, s.prev+stretchHop-s.inBase, s.nominal(k)-s.inBase, limit-s.inBase)
	}
	at := k*stretchHop - s.outBase
	if need := at + stretchWindow; need > len(s.sum) {
		s.sum = append(s.sum, make([]float32, need-len(s.sum))...)
		s.weight = append(s.weight, make([]float32, need-len(s.weight))...)
	}
	start := pos - s.inBase
	overlapAdd(s.sum, s.weight, s.in[start:start+stretchWindow], at, s.window)
	s.prev = pos
	s.next++
}

// trimInput drops input that no later segment or search can read. It
// copies only once a few segments' worth has piled up.
func (s *Stretcher) trimInput() {
	keepFrom := max(min(s.prev+stretchHop, s.nominal(s.next)-stretchTolerance), 0)
	if s.next == 0 {
		keepFrom = 0
	}
	if drop := keepFrom - s.inBase; drop > 4*stretchWindow {
		s.in = append(s.in[:0], s.in[drop:]...)
		s.inBase = keepFrom
	}
}

// emit returns the normalized output before absolute sample end and drops
// it from the accumulators.
func (s *Stretcher) emit(end int) []float32 {
	n := end - s.outBase
	if n <= 0 {
		return nil
	}
	out := make([]float32, n)
	copy(out, s.sum[:min(n, len(s.sum))])
	normalizeOverlap(out, s.weight[:min(n, len(s.weight))])
	if n >= len(s.sum) {
		s.sum, s.weight = s.sum[:0], s.weight[:0]
	} else {
		s.sum = append(s.sum[:0], s.sum[n:]...)
		s.weight = append(s.weight[:0], s.weight[n:]...)
	}
	s.outBase = end
	return out
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
