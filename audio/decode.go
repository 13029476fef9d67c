package audio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"

	"gopkg.in/hraban/opus.v2"
)

// DecodeFile detects WAV or Ogg Opus from the first bytes of r and decodes
// at most maxBytes bytes. Other content fails with ErrNotAudio.
func DecodeFile(r io.Reader, maxBytes int64) (*PCM, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(12)
	if len(magic) == 0 {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read audio file: %w", err)
		}
		return nil, fmt.Errorf("empty audio file: %w", ErrTruncated)
	}
	switch {
	case bytes.HasPrefix(magic, []byte("RIFF")) || bytes.HasPrefix(magic, []byte("RF64")):
		return DecodeWAV(br, maxBytes)
	case bytes.HasPrefix(magic, []byte("OggS")):
		return DecodeOggOpus(br, maxBytes)
	}
	return nil, fmt.Errorf("unrecognized file starting with %q (%s): send WAV or Ogg Opus: %w", magic[:min(4, len(magic))], describeMagic(magic), ErrNotAudio)
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

// DecodeOggOpus decodes an Ogg Opus file of at most maxBytes bytes to
// 48 kHz PCM with the stream's channel count (1 or 2). It removes the
// pre-skip, trims the end to the final granule position and applies the
// OpusHead output gain.
func DecodeOggOpus(r io.Reader, maxBytes int64) (*PCM, error) {
	info, err := ReadOggOpus(r, maxBytes)
	if err != nil {
		return nil, err
	}
	dec, err := opus.NewDecoder(SampleRate, info.Channels)
	if err != nil {
		return nil, fmt.Errorf("create Opus decoder: %w", err)
	}
	out := make([]float32, 0, (info.Samples+int64(info.PreSkip))*int64(info.Channels))
	buf := make([]float32, 5760*info.Channels)
	for i, pkt := range info.Packets {
		n, err := dec.DecodeFloat32(pkt, buf)
		if err != nil {
			return nil, fmt.Errorf("decode Opus packet %d: %w: %w", i, err, ErrNotAudio)
		}
		out = append(out, buf[:n*info.Channels]...)
	}
	start := int(info.PreSkip) * info.Channels
	end := start + int(info.Samples)*info.Channels
	out = out[min(start, len(out)):min(end, len(out))]
	applyGain(out, info.OutputGain)
	return &PCM{Rate: SampleRate, Channels: info.Channels, Samples: out}, nil
}

// applyGain scales samples by a Q7.8 dB gain and clips to [-1,1], because
// the Opus decoder can overshoot full scale slightly.
func applyGain(samples []float32, gain int16) {
	scale := math.Pow(10, float64(gain)/(20*256))
	for i, s := range samples {
		samples[i] = clampSample(float64(s) * scale)
	}
}
