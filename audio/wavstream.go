package audio

import (
	"bytes"
	"errors"
	"io"
	"time"
)

// wavBlockFrames is how many sample frames wavStream converts per read.
const wavBlockFrames = 4096

// wavStream is a WAV file whose chunks have been read up to its samples.
// The sample bytes are either still in br, dataSize of them or up to the
// end of input when streaming, or already in buffered when the data chunk
// came before the fmt chunk.
type wavStream struct {
	br        *boundedReader
	format    *wavFormat
	haveData  bool
	streaming bool
	dataSize  int64
	buffered  []byte
}

// declaredFrames returns the sample frames the data chunk's size declares,
// and false for a streaming chunk, whose size is unknown.
func (w *wavStream) declaredFrames() (int64, bool) {
	if w.streaming && w.buffered == nil {
		return 0, false
	}
	return w.dataSize / int64(w.format.bits/8*w.format.channels), true
}

// duration returns the length the header declares, if it declares one.
func (w *wavStream) duration() (time.Duration, bool) {
	frames, ok := w.declaredFrames()
	return framesDuration(frames, w.format.rate), ok
}

// decode converts the samples to PCM as it reads them, dropping a trailing
// partial frame. With mono it averages the channels of each frame, so the
// memory used is that of the mono result. It fails with ErrTooLarge past
// MaxDecodeFrames, and with a *TooLongError past maxDur unless maxDur is 0.
func (w *wavStream) decode(mono bool, maxDur time.Duration) (*PCM, error) {
	maxFrames, err := w.frameLimit(maxDur)
	if err != nil {
		return nil, err
	}

	src, size := w.samples()
	f := w.format
	frameBytes := f.bits / 8 * f.channels
	outChannels := f.channels
	if mono {
		outChannels = 1
	}
	// The first allocation is bounded, so a size claimed by a header
	// cannot cause a large allocation by itself.
	out := make([]float32, 0, min(size/int64(frameBytes), wavBlockFrames*16)*int64(outChannels))
	block := make([]byte, wavBlockFrames*frameBytes)
	convert := f.converter()

	var frames, read int64
	for {
		n, err := io.ReadFull(src, block)
		read += int64(n)
		got := int64(n / frameBytes)
		if frames+got > maxFrames {
			return nil, w.tooLong(maxDur)
		}
		out = appendFrames(out, block[:got*int64(frameBytes)], f.channels, f.bits/8, mono, convert)
		frames += got
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}

	if !w.streaming && read < size {
		return nil, kindErrorf(ErrTruncated, "data chunk claims %d bytes but the input ends after %d", size, read)
	}
	if frames == 0 {
		return nil, kindErrorf(ErrTruncated, "WAV data chunk contains no complete sample frame")
	}
	return &PCM{Rate: f.rate, Channels: outChannels, Samples: out}, nil
}

// samples returns the reader of the sample bytes and their declared size.
func (w *wavStream) samples() (io.Reader, int64) {
	switch {
	case w.buffered != nil:
		return bytes.NewReader(w.buffered), int64(len(w.buffered))
	case w.streaming:
		return w.br, 0
	}
	return io.LimitReader(w.br, w.dataSize), w.dataSize
}

// frameLimit returns the maximum number of frames decode may produce. It
// fails at once when the header declares a length over maxDur. A header that declares
// more than MaxDecodeFrames fails only once that many frames are read,
// because a header's claim may be just damaged, and the truncation error
// is the truer one for a short file.
func (w *wavStream) frameLimit(maxDur time.Duration) (int64, error) {
	if maxDur <= 0 {
		return MaxDecodeFrames, nil
	}
	durFrames := durationFrames(maxDur, w.format.rate)
	if declared, ok := w.declaredFrames(); ok && declared > durFrames {
		return 0, &TooLongError{Duration: framesDuration(declared, w.format.rate), Exact: true, Limit: maxDur}
	}
	return min(MaxDecodeFrames, durFrames), nil
}

// tooLong returns the error for samples that passed the frame limit
// before their end: the caller's limit maxDur, or MaxDecodeFrames when it
// is lower.
func (w *wavStream) tooLong(maxDur time.Duration) error {
	if maxDur > 0 && durationFrames(maxDur, w.format.rate) <= MaxDecodeFrames {
		return &TooLongError{Duration: maxDur, Limit: maxDur}
	}
	return kindErrorf(ErrTooLarge, "WAV contains more than the decoder's limit of %d sample frames (%s at 48 kHz)",
		MaxDecodeFrames, framesDuration(MaxDecodeFrames, SampleRate))
}

// appendFrames converts whole frames of raw samples and appends them to
// out, interleaved or averaged to mono.
func appendFrames(out []float32, raw []byte, channels, width int, mono bool, convert func([]byte) float32) []float32 {
	if !mono || channels == 1 {
		for i := 0; i+width <= len(raw); i += width {
			out = append(out, convert(raw[i:i+width]))
		}
		return out
	}
	frameBytes := channels * width
	scale := 1 / float64(channels)
	for i := 0; i+frameBytes <= len(raw); i += frameBytes {
		var sum float64
		for c := range channels {
			sum += float64(convert(raw[i+c*width : i+(c+1)*width]))
		}
		out = append(out, float32(sum*scale))
	}
	return out
}

// durationFrames returns the frames in d at rate Hz, counting whole
// milliseconds so that no duration a relay can state overflows.
func durationFrames(d time.Duration, rate int) int64 {
	return d.Milliseconds() * int64(rate) / 1000
}

// framesDuration returns the length of frames at rate Hz.
func framesDuration(frames int64, rate int) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(frames * int64(time.Second) / int64(rate))
}
