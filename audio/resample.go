package audio

/*
#cgo pkg-config: soxr
#include <stdlib.h>
#include <soxr.h>

// vm_soxr_oneshot converts interleaved float32 audio in one call with the
// high-quality recipe (SOXR_HQ, 20-bit precision).
static const char *vm_soxr_oneshot(double in_rate, double out_rate, unsigned channels,
		const float *in, size_t in_frames, float *out, size_t out_frames, size_t *out_done) {
	soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
	soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
	size_t in_done = 0;
	return soxr_oneshot(in_rate, out_rate, channels, in, in_frames, &in_done,
		out, out_frames, out_done, &io, &q, NULL);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Resample converts p to rate Hz with libsoxr at its high-quality setting
// (SOXR_HQ), keeping the channel layout. The output has
// round(frames*rate/p.Rate) frames and is aligned with the input, because
// libsoxr compensates the filter delay in one-shot mode. Resample returns a
// copy of p when the rates are equal.
func Resample(p *PCM, rate int) (*PCM, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("resample: %w", err)
	}
	if rate <= 0 || rate > maxWAVRate {
		return nil, fmt.Errorf("resample: invalid output rate %d Hz: want 1 to %d Hz", rate, maxWAVRate)
	}
	if rate == p.Rate {
		return &PCM{Rate: rate, Channels: p.Channels, Samples: append([]float32(nil), p.Samples...)}, nil
	}
	inFrames := p.Frames()
	outFrames := (int64(inFrames)*int64(rate) + int64(p.Rate)/2) / int64(p.Rate)
	if outFrames > MaxDecodeFrames {
		return nil, kindErrorf(ErrTooLarge, "resample: output of %d frames exceeds the limit of %d frames", outFrames, MaxDecodeFrames)
	}
	if inFrames == 0 || outFrames == 0 {
		return &PCM{Rate: rate, Channels: p.Channels}, nil
	}
	out := make([]float32, outFrames*int64(p.Channels))
	var done C.size_t
	msg := C.vm_soxr_oneshot(C.double(p.Rate), C.double(rate), C.uint(p.Channels),
		(*C.float)(unsafe.Pointer(&p.Samples[0])), C.size_t(inFrames),
		(*C.float)(unsafe.Pointer(&out[0])), C.size_t(outFrames), &done)
	if msg != nil {
		return nil, fmt.Errorf("resample %d Hz to %d Hz: libsoxr: %s", p.Rate, rate, C.GoString(msg))
	}
	return &PCM{Rate: rate, Channels: p.Channels, Samples: out[:int(done)*p.Channels]}, nil
}
