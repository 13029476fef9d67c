package audio

import (
	"fmt"
	"runtime"
	"time"
)

// Encoded is a mono Opus stream of 20 ms packets.
type Encoded struct {
	Packets [][]byte
	PreSkip uint16 // PreSkip is the encoder lookahead in 48 kHz samples.
	// Samples is the length of the real audio in 48 kHz samples, excluding
	// PreSkip. The packets hold more, because the last one is padded.
	Samples   int64
	InputRate int // InputRate is the sample rate of the PCM before encoding.
}

// Duration returns the length of the real audio.
func (e *Encoded) Duration() time.Duration {
	return time.Duration(e.Samples * int64(time.Second) / SampleRate)
}

// opusRates lists the input rates that libopus takes without resampling.
var opusRates = map[int]bool{8000: true, 12000: true, 16000: true, 24000: true, 48000: true}

// EncodePCM mixes p to mono and encodes it as 20 ms Opus packets. Input at
// 8, 12, 16, 24 or 48 kHz goes to the encoder at its own rate, and other
// rates are first resampled to 48 kHz. The input is padded with silence so
// that the packets cover PreSkip plus all of the audio.
func EncodePCM(p *PCM, opt EncoderOptions) (*Encoded, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	mono := ToMono(p)
	if len(mono.Samples) == 0 {
		return nil, kindErrorf(ErrTruncated, "encode: PCM contains no samples")
	}
	if !opusRates[mono.Rate] {
		var err error
		if mono, err = Resample(mono, SampleRate); err != nil {
			return nil, fmt.Errorf("encode: %w", err)
		}
	}
	lookahead, err := encoderLookahead(mono.Rate)
	if err != nil {
		return nil, err
	}
	frames := padFrames(mono.Samples, mono.Rate, lookahead)
	var packets [][]byte
	var preSkip uint16
	if len(frames) >= minParallelFrames && runtime.GOMAXPROCS(0) >= 2 {
		packets, preSkip, err = encodeParallel(frames, mono.Rate, opt)
	} else {
		packets, preSkip, err = encodeSerial(frames, mono.Rate, opt)
	}
	if err != nil {
		return nil, err
	}
	return &Encoded{
		Packets:   packets,
		PreSkip:   preSkip,
		Samples:   int64(len(mono.Samples)) * SampleRate / int64(mono.Rate),
		InputRate: p.Rate,
	}, nil
}

// padFrames splits samples into 20 ms frames, appending enough silence to
// flush the encoder's lookahead, in samples at rate, so that the decoder
// outputs every input sample. It appends no more than that: a frame made
// only of padding would carry no sample of the message after pre-skip,
// and the relay rejects such trailing frames.
func padFrames(samples []float32, rate, lookahead int) [][]float32 {
	frameSize := rate / 50
	count := (len(samples) + lookahead + frameSize - 1) / frameSize
	padded := make([]float32, count*frameSize)
	copy(padded, samples)
	frames := make([][]float32, count)
	for i := range frames {
		frames[i] = padded[i*frameSize : (i+1)*frameSize]
	}
	return frames
}

// encodeSerial encodes all frames with one encoder.
func encodeSerial(frames [][]float32, rate int, opt EncoderOptions) ([][]byte, uint16, error) {
	enc, err := newEncoderAt(rate, opt)
	if err != nil {
		return nil, 0, err
	}
	packets, err := encodeRange(enc, frames, 0)
	return packets, enc.PreSkip(), err
}

// encodeRange encodes frames and returns the packets for frames[skip:]. The
// skipped frames prime the encoder state.
func encodeRange(enc *Encoder, frames [][]float32, skip int) ([][]byte, error) {
	buf := make([]byte, maxPacketBytes)
	packets := make([][]byte, 0, len(frames)-skip)
	for i, frame := range frames {
		n, err := enc.Encode(frame, buf)
		if err != nil {
			return nil, fmt.Errorf("encode packet %d: %w", i, err)
		}
		if i >= skip {
			packets = append(packets, append([]byte(nil), buf[:n]...))
		}
	}
	return packets, nil
}
