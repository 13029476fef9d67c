package audio

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vm-voice/vm/audio/oggopus"
)

// Vendor is the vendor string written into OpusTags.
const Vendor = "vm"

// OggInfo is the content of an Ogg Opus stream before decoding.
type OggInfo struct {
	PreSkip    uint16 // PreSkip is the number of 48 kHz samples to discard at the start.
	InputRate  uint32 // InputRate is the sample rate of the original audio, 0 if unknown.
	Channels   int
	OutputGain int16 // OutputGain is the gain to apply in Q7.8 dB.
	// Tags are the user comments, with upper-case keys.
	Tags    map[string]string
	Vendor  string
	Packets [][]byte
	// Samples is the length of the audio in 48 kHz samples after removing
	// the pre-skip and trimming the end to the final granule position.
	Samples int64
}

// WriteOggOpus writes enc as an Ogg Opus file (RFC 7845) with one logical
// stream of the given serial number. Tags become OpusTags user comments with
// upper-case keys, and ENCODER=vm is added unless tags set ENCODER. The
// final granule position trims the padding after enc.Samples.
func WriteOggOpus(w io.Writer, enc *Encoded, tags map[string]string, serial uint32) error {
	comments := map[string]string{"ENCODER": Vendor}
	for k, v := range tags {
		if err := checkTagKey(k); err != nil {
			return err
		}
		comments[strings.ToUpper(k)] = v
	}
	head := oggopus.Head{Channels: 1, PreSkip: enc.PreSkip, InputRate: uint32(max(0, enc.InputRate))}
	ow, err := oggopus.NewWriter(w, serial, head, oggopus.Tags{Vendor: Vendor, Comments: comments})
	if err != nil {
		return fmt.Errorf("write Ogg Opus: %w", err)
	}
	for _, p := range enc.Packets {
		if err := ow.WritePacket(p); err != nil {
			return fmt.Errorf("write Ogg Opus: %w", err)
		}
	}
	if err := ow.Close(enc.Samples); err != nil {
		return fmt.Errorf("write Ogg Opus: %w", err)
	}
	return nil
}

// checkTagKey enforces the Vorbis comment field name rule: one or more
// ASCII characters from 0x20 to 0x7D other than '='.
func checkTagKey(k string) error {
	if k == "" {
		return fmt.Errorf("invalid Opus tag name %q: must not be empty", k)
	}
	for _, c := range []byte(k) {
		if c < 0x20 || c > 0x7D || c == '=' {
			return fmt.Errorf("invalid Opus tag name %q: byte 0x%02X is not allowed", k, c)
		}
	}
	return nil
}

// ReadOggOpus reads an Ogg Opus file of at most maxBytes bytes without
// decoding the audio. Errors wrap this package's sentinels: damaged data
// is ErrNotAudio, and chained streams or channel mapping families other
// than 0 are ErrUnsupported.
func ReadOggOpus(r io.Reader, maxBytes int64) (*OggInfo, error) {
	f, err := oggopus.Read(r, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("read Ogg Opus: %w", mapOggError(err))
	}
	if len(f.Packets) == 0 {
		return nil, kindErrorf(ErrTruncated, "Ogg Opus stream contains no audio packets")
	}
	return &OggInfo{
		PreSkip:    f.Head.PreSkip,
		InputRate:  f.Head.InputRate,
		Channels:   int(f.Head.Channels),
		OutputGain: f.Head.OutputGain,
		Tags:       f.Tags.Comments,
		Vendor:     f.Tags.Vendor,
		Packets:    f.Packets,
		Samples:    f.Samples,
	}, nil
}

// mapOggError adds the audio sentinel that matches an oggopus error and
// keeps the oggopus message.
func mapOggError(err error) error {
	switch {
	case errors.Is(err, oggopus.ErrTooLarge):
		return kindError{ErrTooLarge, err}
	case errors.Is(err, oggopus.ErrTruncated):
		return kindError{ErrTruncated, err}
	case errors.Is(err, oggopus.ErrUnsupported):
		return kindError{ErrUnsupported, err}
	}
	return kindError{ErrNotAudio, err}
}
