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
	block := max(rate/100, 1)
	keep := max(int(maxGap.Seconds()*float64(rate)), 0)
	fade := min(rate/400, keep/2)
	out := make([]float32, 0, len(pcm))
	start := 0
	for start < len(pcm) {
		end := runEnd(pcm, start, block)
		if end-start > keep && isQuiet(pcm[start:min(start+block, len(pcm))]) {
			out = appendShortened(out, pcm[start:end], keep, fade)
		} else {
			out = append(out, pcm[start:end]...)
		}
		start = end
	}
	return out
}

// runEnd returns the end of the run of blocks that starts at start and are
// all quiet or all not quiet, like the first one.
func runEnd(pcm []float32, start, block int) int {
	quiet := isQuiet(pcm[start:min(start+block, len(pcm))])
	end := start
	for end < len(pcm) {
		b := pcm[end:min(end+block, len(pcm))]
		if isQuiet(b) != quiet {
			break
		}
		end += len(b)
	}
	return end
}

func isQuiet(block []float32) bool { return LevelDBFS(block) < SilenceThreshold }

// appendShortened appends the first and last parts of the pause run, keep
// samples in all, crossfaded over fade samples where they meet.
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
