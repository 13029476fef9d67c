package audio

/*
#cgo pkg-config: opus
#include <opus.h>

// vm_opus_lookahead returns the lookahead of a libopus encoder created with
// the given rate and application, in samples at that rate, or a negative
// libopus error code.
static int vm_opus_lookahead(int rate, int application) {
	int err = 0;
	OpusEncoder *enc = opus_encoder_create(rate, 1, application, &err);
	if (err != OPUS_OK) {
		return err;
	}
	opus_int32 lookahead = 0;
	err = opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&lookahead));
	opus_encoder_destroy(enc);
	return err == OPUS_OK ? lookahead : err;
}
*/
import "C"

import (
	"fmt"

	"gopkg.in/hraban/opus.v2"
)

// Encoder defaults, used for zero fields of EncoderOptions.
const (
	DefaultBitrate           = 24000
	DefaultComplexity        = 5
	DefaultPacketLossPercent = 10
)

// maxPacketBytes is the output buffer size for one 20 ms packet; libopus
// recommends 4000 bytes as enough for any packet.
const maxPacketBytes = 4000

// EncoderOptions configures an Opus encoder. Zero fields take the defaults:
// DefaultBitrate, DefaultComplexity, DefaultPacketLossPercent and in-band
// FEC on.
type EncoderOptions struct {
	Bitrate    int // Bitrate is the VBR target in bit/s.
	Complexity int // Complexity is the libopus complexity, 1 to 10.

	// PacketLossPercent is the expected packet loss, which sets how much
	// FEC data libopus adds.
	PacketLossPercent int

	// NoFEC turns in-band FEC off. FEC helps only where packets can be
	// lost, which is the live path. A file upload is reliable, so vm send
	// turns FEC off and spends those bits on the audio.
	NoFEC bool
}

// withDefaults fills zero fields.
func (o EncoderOptions) withDefaults() EncoderOptions {
	if o.Bitrate == 0 {
		o.Bitrate = DefaultBitrate
	}
	if o.Complexity == 0 {
		o.Complexity = DefaultComplexity
	}
	if o.PacketLossPercent == 0 {
		o.PacketLossPercent = DefaultPacketLossPercent
	}
	return o
}

// Encoder is a mono Opus encoder for the VoIP application that takes one
// 20 ms frame per call.
type Encoder struct {
	enc     *opus.Encoder
	rate    int
	preSkip uint16
}

// NewEncoder creates a 48 kHz mono encoder.
func NewEncoder(opt EncoderOptions) (*Encoder, error) {
	return newEncoderAt(SampleRate, opt)
}

// newEncoderAt creates a mono encoder that takes samples at rate Hz, which
// must be 8, 12, 16, 24 or 48 kHz.
func newEncoderAt(rate int, opt EncoderOptions) (*Encoder, error) {
	opt = opt.withDefaults()
	enc, err := opus.NewEncoder(rate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("create Opus encoder at %d Hz: %w", rate, err)
	}
	if err := configure(enc, opt); err != nil {
		return nil, err
	}
	lookahead, err := encoderLookahead(rate)
	if err != nil {
		return nil, err
	}
	preSkip := uint16(lookahead * SampleRate / rate)
	return &Encoder{enc: enc, rate: rate, preSkip: preSkip}, nil
}

// encoderLookahead returns the delay of the VoIP encoders that
// newEncoderAt creates, in samples at rate.
func encoderLookahead(rate int) (int, error) {
	lookahead := int(C.vm_opus_lookahead(C.int(rate), C.int(opus.AppVoIP)))
	if lookahead < 0 {
		return 0, fmt.Errorf("query Opus lookahead at %d Hz: libopus error %d", rate, lookahead)
	}
	return lookahead, nil
}

func configure(enc *opus.Encoder, opt EncoderOptions) error {
	if err := enc.SetBitrate(opt.Bitrate); err != nil {
		return fmt.Errorf("set Opus bitrate %d: %w", opt.Bitrate, err)
	}
	if err := enc.SetComplexity(opt.Complexity); err != nil {
		return fmt.Errorf("set Opus complexity %d: %w", opt.Complexity, err)
	}
	if err := enc.SetInBandFEC(!opt.NoFEC); err != nil {
		return fmt.Errorf("set Opus in-band FEC: %w", err)
	}
	if err := enc.SetPacketLossPerc(opt.PacketLossPercent); err != nil {
		return fmt.Errorf("set Opus packet loss %d %%: %w", opt.PacketLossPercent, err)
	}
	return nil
}

// FrameSize returns the samples per 20 ms frame at the encoder's input rate.
func (e *Encoder) FrameSize() int { return e.rate / 50 }

// PreSkip returns the encoder's lookahead in 48 kHz samples: the samples a
// decoder discards from the start of the stream.
func (e *Encoder) PreSkip() uint16 { return e.preSkip }

// Encode encodes one 20 ms mono frame (960 samples for NewEncoder) into dst
// and returns the packet length. A dst of 4000 bytes holds any packet.
func (e *Encoder) Encode(frame []float32, dst []byte) (int, error) {
	if len(frame) != e.FrameSize() {
		return 0, fmt.Errorf("encode Opus frame: got %d samples, want %d", len(frame), e.FrameSize())
	}
	n, err := e.enc.EncodeFloat32(frame, dst)
	if err != nil {
		return 0, fmt.Errorf("encode Opus frame: %w", err)
	}
	return n, nil
}

// Decoder is a 48 kHz mono Opus decoder.
type Decoder struct {
	dec *opus.Decoder
}

// NewDecoder creates a 48 kHz mono decoder.
func NewDecoder() (*Decoder, error) {
	dec, err := opus.NewDecoder(SampleRate, 1)
	if err != nil {
		return nil, fmt.Errorf("create Opus decoder: %w", err)
	}
	return &Decoder{dec: dec}, nil
}

// Decode decodes pkt into out and returns the number of samples written.
// Out needs room for 5760 samples (120 ms) to take any packet.
func (d *Decoder) Decode(pkt []byte, out []float32) (int, error) {
	n, err := d.dec.DecodeFloat32(pkt, out)
	if err != nil {
		return 0, fmt.Errorf("decode Opus packet of %d bytes: %w", len(pkt), err)
	}
	return n, nil
}

// DecodeFEC reconstructs the packet lost before pkt from the FEC data in
// pkt, filling all of out, whose length must be the lost duration (960 for
// 20 ms). It returns len(out). Without FEC data in pkt it conceals the loss.
func (d *Decoder) DecodeFEC(pkt []byte, out []float32) (int, error) {
	if err := d.dec.DecodeFECFloat32(pkt, out); err != nil {
		return 0, fmt.Errorf("decode Opus FEC from packet of %d bytes: %w", len(pkt), err)
	}
	return len(out), nil
}

// DecodePLC conceals one lost packet by filling all of out, whose length
// must be a multiple of 2.5 ms (120 samples). It returns len(out).
func (d *Decoder) DecodePLC(out []float32) (int, error) {
	if err := d.dec.DecodePLCFloat32(out); err != nil {
		return 0, fmt.Errorf("conceal lost Opus packet: %w", err)
	}
	return len(out), nil
}
