package audio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"gopkg.in/hraban/opus.v2"
)

// DecodeFile detects WAV or Ogg Opus from the first bytes of r and decodes
// at most maxBytes bytes. Other content fails with ErrNotAudio.
func DecodeFile(r io.Reader, maxBytes int64) (*PCM, error) {
	src, err := OpenFile(r, maxBytes)
	if err != nil {
		return nil, err
	}
	if src.wav != nil {
		return src.wav.decode(false, 0)
	}
	return decodeOgg(src.ogg, false)
}

// Source is an audio file whose header has been read and checked, and
// whose samples DecodeMono reads.
type Source struct {
	wav *wavStream
	ogg *OggInfo
}

// OpenFile detects WAV or Ogg Opus from the first bytes of r and reads the
// header: of a WAV file the chunks before the samples, of an Ogg Opus file
// every packet, because only the last page gives the length. It reads at
// most maxBytes bytes. Other content fails with ErrNotAudio.
func OpenFile(r io.Reader, maxBytes int64) (*Source, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(12)
	if len(magic) == 0 {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read audio file: %w", err)
		}
		return nil, kindErrorf(ErrTruncated, "empty audio file")
	}
	switch {
	case bytes.HasPrefix(magic, []byte("RIFF")) || bytes.HasPrefix(magic, []byte("RF64")):
		w, err := openWAV(newBoundedReader(br, maxBytes))
		if err != nil {
			return nil, err
		}
		return &Source{wav: w}, nil
	case bytes.HasPrefix(magic, []byte("OggS")):
		info, err := ReadOggOpus(br, maxBytes)
		if err != nil {
			return nil, err
		}
		return &Source{ogg: info}, nil
	}
	return nil, kindErrorf(ErrNotAudio, "not an audio file (expected WAV or Ogg Opus): it starts with %q, %s", magic[:min(4, len(magic))], describeMagic(magic))
}

// describeMagic names a few common formats so the error can suggest a fix.
func describeMagic(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("ID3")) || (len(b) > 1 && b[0] == 0xFF && b[1]&0xE0 == 0xE0):
		return "looks like MP3"
	case bytes.HasPrefix(b, []byte("fLaC")):
		return "looks like FLAC"
	case len(b) >= 8 && string(b[4:8]) == "ftyp":
		return "looks like MP4 or M4A"
	case bytes.HasPrefix(b, []byte("FORM")):
		return "looks like AIFF"
	case bytes.HasPrefix(b, []byte{0x1A, 0x45, 0xDF, 0xA3}):
		return "looks like WebM or Matroska"
	}
	return "unknown format"
}

// Duration returns the length of the audio that the header declares, and
// false when it declares none: a streaming WAV file, whose data chunk size
// is 0 or 0xFFFFFFFF, is measured only by DecodeMono.
func (s *Source) Duration() (time.Duration, bool) {
	if s.wav != nil {
		return s.wav.duration()
	}
	return framesDuration(s.ogg.Samples, SampleRate), true
}

// DecodeMono decodes the audio and mixes it to mono as it goes, so its
// memory use is that of the mono result. It fails with a *TooLongError
// when the audio lasts longer than maxDur, checked before any sample is
// decoded when the header declares the length, and with ErrTooLarge past
// MaxDecodeFrames. A maxDur of 0 sets no duration limit.
func (s *Source) DecodeMono(maxDur time.Duration) (*PCM, error) {
	if s.wav != nil {
		return s.wav.decode(true, maxDur)
	}
	if d, _ := s.Duration(); maxDur > 0 && d > maxDur {
		return nil, &TooLongError{Duration: d, Exact: true, Limit: maxDur}
	}
	return decodeOgg(s.ogg, true)
}

// DecodeOggOpus decodes an Ogg Opus file of at most maxBytes bytes to
// 48 kHz PCM with the stream's channel count (1 or 2). It removes the
// pre-skip, trims the end to the final granule position and applies the
// OpusHead output gain.
func DecodeOggOpus(r io.Reader, maxBytes int64) (*PCM, error) {
	info, err := ReadOggOpus(r, maxBytes)
	if err != nil {
		return nil, err
	}
	return decodeOgg(info, false)
}

// decodeOgg decodes the packets of info, to mono when mono is set, which
// libopus does by mixing the channels down itself.
func decodeOgg(info *OggInfo, mono bool) (*PCM, error) {
	if info.Samples > MaxDecodeFrames {
		return nil, kindErrorf(ErrTooLarge, "Ogg Opus stream lasts %s, more than the decoder's limit of %s",
			framesDuration(info.Samples, SampleRate), framesDuration(MaxDecodeFrames, SampleRate))
	}
	channels := info.Channels
	if mono {
		channels = 1
	}
	dec, err := opus.NewDecoder(SampleRate, channels)
	if err != nil {
		return nil, fmt.Errorf("create Opus decoder: %w", err)
	}
	out := make([]float32, 0, (info.Samples+int64(info.PreSkip))*int64(channels))
	buf := make([]float32, 5760*channels)
	for i, pkt := range info.Packets {
		n, err := dec.DecodeFloat32(pkt, buf)
		if err != nil {
			return nil, kindErrorf(ErrNotAudio, "decode Opus packet %d: %w", i, err)
		}
		out = append(out, buf[:n*channels]...)
	}
	start := int(info.PreSkip) * channels
	end := start + int(info.Samples)*channels
	out = out[min(start, len(out)):min(end, len(out))]
	applyGain(out, info.OutputGain)
	return &PCM{Rate: SampleRate, Channels: channels, Samples: out}, nil
}

// applyGain scales samples by a Q7.8 dB gain and clips to [-1,1], because
// the Opus decoder can overshoot full scale slightly.
func applyGain(samples []float32, gain int16) {
	scale := math.Pow(10, float64(gain)/(20*256))
	for i, s := range samples {
		samples[i] = clampSample(float64(s) * scale)
	}
}
