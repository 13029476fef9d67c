package audio

import "time"

// SilenceThreshold is the level below which ShortenSilences treats audio as
// a pause, in dBFS.
const SilenceThreshold = -45.0

// ShortenSilences returns pcm, mono at rate Hz, with every pause longer
// than maxGap cut to maxGap. A pause is a run of 10 ms blocks whose level is
// below SilenceThreshold. The cut keeps the start and the end of the pause
// and joins them with a 2.5 ms crossfade, so no click is heard. The result
// is a new slice, and pcm is not changed.
func ShortenSilences(pcm []float32, rate int, maxGap time.Duration) []float32 {
	s := NewSilenceShortener(rate, maxGap)
	out := s.Write(pcm)
	return append(out, s.Flush()...)
}

// SilenceShortener is ShortenSilences for audio that arrives in pieces. The
// samples returned by its Write calls and the final Flush, put together,
// are the samples that ShortenSilences returns for the whole input,
// whatever the size of the pieces. Speech passes through at once, 10 ms
// blocks at a time. A pause is held back until it ends, but only its first
// and last maxGap are kept in memory, so a long pause costs no more than a
// short one. A SilenceShortener is not safe for concurrent use.
type SilenceShortener struct {
	block, keep, fade int

	// partial is the start of a block that has not fully arrived.
	partial []float32
	// pause contains the first keep/2 samples of the current pause and at
	// least its last tailLen samples. cut counts the samples dropped
	// between the two parts.
	pause []float32
	cut   int
}

// NewSilenceShortener returns a SilenceShortener for mono audio at rate Hz
// that cuts pauses longer than maxGap to maxGap.
func NewSilenceShortener(rate int, maxGap time.Duration) *SilenceShortener {
	keep := max(int(maxGap.Seconds()*float64(rate)), 0)
	return &SilenceShortener{
		block: max(rate/100, 1),
		keep:  keep,
		fade:  min(rate/400, keep/2),
	}
}

// Write adds pcm to the stream and returns the output that no later input
// can change. The returned slice is new.
func (s *SilenceShortener) Write(pcm []float32) []float32 {
	var out []float32
	for len(pcm) > 0 {
		if len(s.partial) == 0 && len(pcm) >= s.block {
			out = s.addBlock(out, pcm[:s.block])
			pcm = pcm[s.block:]
			continue
		}
		n := min(s.block-len(s.partial), len(pcm))
		s.partial = append(s.partial, pcm[:n]...)
		pcm = pcm[n:]
		if len(s.partial) == s.block {
			out = s.addBlock(out, s.partial)
			s.partial = s.partial[:0]
		}
	}
	return out
}

// Flush ends the stream and returns the rest of its output: the last,
// shorter block and the pause it ends. The SilenceShortener then starts a
// new stream.
func (s *SilenceShortener) Flush() []float32 {
	var out []float32
	if len(s.partial) > 0 {
		out = s.addBlock(out, s.partial)
	}
	out = s.endPause(out)
	s.partial = s.partial[:0]
	return out
}

// addBlock appends what block releases to out: a quiet block joins the
// pause, and a loud one ends the pause and passes through.
func (s *SilenceShortener) addBlock(out, block []float32) []float32 {
	if !isQuiet(block) {
		out = s.endPause(out)
		return append(out, block...)
	}
	s.pause = append(s.pause, block...)
	head := s.keep / 2
	tailLen := s.keep - head + s.fade
	if extra := len(s.pause) - head - tailLen; extra > 4*s.block {
		s.pause = append(s.pause[:head], s.pause[head+extra:]...)
		s.cut += extra
	}
	return out
}

// endPause appends the pending pause to out, shortened when it is longer
// than keep, and clears it.
func (s *SilenceShortener) endPause(out []float32) []float32 {
	if len(s.pause)+s.cut > s.keep {
		out = appendShortened(out, s.pause, s.keep, s.fade)
	} else {
		out = append(out, s.pause...)
	}
	s.pause, s.cut = s.pause[:0], 0
	return out
}

func isQuiet(block []float32) bool { return LevelDBFS(block) < SilenceThreshold }

// appendShortened appends the first and last parts of the pause run, keep
// samples in all, crossfaded over fade samples where they meet. It reads
// only the first keep/2 and the last keep-keep/2+fade samples of run, so
// run may lack the middle of a long pause.
func appendShortened(out, run []float32, keep, fade int) []float32 {
	head := keep / 2
	tail := run[len(run)-(keep-head+fade):]
	out = append(out, run[:head-fade]...)
	for i := range fade {
		w := float32(i+1) / float32(fade+1)
		out = append(out, run[head-fade+i]*(1-w)+tail[i]*w)
	}
	return append(out, tail[fade:]...)
}
