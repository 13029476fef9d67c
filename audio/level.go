package audio

import "math"

// SilenceDBFS is the level LevelDBFS returns for digital silence and the
// floor of every level it returns.
const SilenceDBFS = -100

// LevelDBFS returns the RMS level of frame in dB relative to full scale, where
// a full-scale square wave is 0 dBFS and a full-scale sine about -3 dBFS. It
// returns SilenceDBFS for an empty or silent frame and never less.
func LevelDBFS(frame []float32) float64 {
	rms := RMS(frame)
	if rms == 0 {
		return SilenceDBFS
	}
	return max(20*math.Log10(rms), SilenceDBFS)
}
