package audio

import (
	"math"
	"math/bits"
	"math/cmplx"
)

// RMS returns the root mean square of x, or 0 for an empty slice.
func RMS(x []float32) float64 {
	if len(x) == 0 {
		return 0
	}
	return math.Sqrt(sumSquares(x) / float64(len(x)))
}

// Correlate finds the lag within ±maxLagSeconds at rate Hz that best aligns
// got with ref and returns the normalized cross-correlation at that lag:
// sum(ref[i]*got[i+lag]) / sqrt(sum(ref²)*sum(got²)). A positive lag means
// got is delayed relative to ref. The result is 1 for identical signals and
// drops when either signal holds audio the other lacks. Correlate uses an
// FFT, so it takes O(n log n) time, and returns (0, 0) when either input is
// empty or silent.
func Correlate(ref, got []float32, rate int, maxLagSeconds float64) (corr float64, lag int) {
	energy := sumSquares(ref) * sumSquares(got)
	if energy == 0 {
		return 0, 0
	}
	size := 1 << bits.Len(uint(len(ref)+len(got)))
	a := toComplex(ref, size)
	b := toComplex(got, size)
	fft(a, false)
	fft(b, false)
	for i := range a {
		a[i] = cmplx.Conj(a[i]) * b[i]
	}
	fft(a, true)
	maxLag := int(maxLagSeconds * float64(rate))
	best, bestLag := math.Inf(-1), 0
	for l := -min(maxLag, len(ref)); l <= min(maxLag, len(got)); l++ {
		// The product ifft(conj(A)·B)[l mod size] is sum ref[i]*got[i+l].
		v := real(a[(l+size)%size]) / float64(size)
		if v > best {
			best, bestLag = v, l
		}
	}
	return best / math.Sqrt(energy), bestLag
}

func sumSquares(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s
}

func toComplex(x []float32, size int) []complex128 {
	out := make([]complex128, size)
	for i, v := range x {
		out[i] = complex(float64(v), 0)
	}
	return out
}

// fft transforms x in place with an iterative radix-2 Cooley-Tukey FFT. The
// length of x must be a power of two. With inverse set it computes the
// unscaled inverse transform.
func fft(x []complex128, inverse bool) {
	n := len(x)
	shift := 64 - bits.Len(uint(n)) + 1
	for i := range x {
		j := int(bits.Reverse64(uint64(i)) >> shift)
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	sign := -1.0
	if inverse {
		sign = 1
	}
	for size := 2; size <= n; size <<= 1 {
		step := cmplx.Rect(1, sign*2*math.Pi/float64(size))
		for start := 0; start < n; start += size {
			w := complex(1, 0)
			for k := range size / 2 {
				even, odd := x[start+k], x[start+k+size/2]*w
				x[start+k], x[start+k+size/2] = even+odd, even-odd
				w *= step
			}
		}
	}
}

// SegmentCorrelation compares got with ref in segments of segSeconds. It
// aligns each segment on its own, within ±maxLagSeconds of the previous
// segment's lag, and returns the mean normalized correlation of the
// segments weighted by their energy in ref. Unlike Correlate it tolerates a
// receiver that inserted or dropped audio, which shifts all later audio. It
// returns 0 when ref is silent.
func SegmentCorrelation(ref, got []float32, rate int, segSeconds, maxLagSeconds float64) float64 {
	seg := max(int(segSeconds*float64(rate)), 1)
	maxLag := int(maxLagSeconds * float64(rate))
	_, offset := Correlate(ref, got, rate, 2*maxLagSeconds)
	var sum, weight float64
	for start := 0; start+seg <= len(ref); start += seg {
		r := ref[start : start+seg]
		lo := min(max(start+offset-maxLag, 0), len(got))
		hi := min(max(start+offset+seg+maxLag, lo), len(got))
		_, lag := Correlate(r, got[lo:hi], rate, float64(hi-lo)/float64(rate))
		offset = lo + lag - start
		e := sumSquares(r)
		sum += e * alignedCorrelation(r, got, start+offset)
		weight += e
	}
	if weight == 0 {
		return 0
	}
	return sum / weight
}

// alignedCorrelation returns the normalized correlation of r with got[at:],
// treating samples outside got as silence.
func alignedCorrelation(r, got []float32, at int) float64 {
	var dot, eg float64
	for i, v := range r {
		if j := at + i; j >= 0 && j < len(got) {
			g := float64(got[j])
			dot += float64(v) * g
			eg += g * g
		}
	}
	if eg == 0 {
		return 0
	}
	return dot / math.Sqrt(sumSquares(r)*eg)
}
