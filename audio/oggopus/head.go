package oggopus

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// Head is the identification header, OpusHead (RFC 7845, section 5.1),
// for channel mapping family 0.
type Head struct {
	Channels   uint8  // 1 or 2
	PreSkip    uint16 // samples at 48 kHz to drop from the decoder's output
	InputRate  uint32 // sample rate of the original input in Hz, 0 if unknown
	OutputGain int16  // Q7.8 dB gain to apply when decoding
}

// Tags is the comment header, OpusTags (RFC 7845, section 5.2).
type Tags struct {
	Vendor string
	// Comments maps upper-case field names to values. A name given more
	// than once in a file keeps its last value.
	Comments map[string]string
}

const (
	headMagic = "OpusHead"
	tagsMagic = "OpusTags"
	headSize  = 19
	// maxTagsSize bounds the comment header a reader accepts.
	maxTagsSize = 1 << 20
)

func (h Head) marshal() []byte {
	b := make([]byte, 0, headSize)
	b = append(b, headMagic...)
	b = append(b, 1, h.Channels)
	b = binary.LittleEndian.AppendUint16(b, h.PreSkip)
	b = binary.LittleEndian.AppendUint32(b, h.InputRate)
	b = binary.LittleEndian.AppendUint16(b, uint16(h.OutputGain))
	return append(b, 0)
}

func parseHead(b []byte) (Head, error) {
	if len(b) < 8 || string(b[:8]) != headMagic {
		return Head{}, fmt.Errorf("first packet is not OpusHead (only Ogg Opus is supported, not Vorbis, FLAC or Speex in Ogg): %w", ErrUnsupported)
	}
	if len(b) < headSize {
		return Head{}, fmt.Errorf("OpusHead of %d bytes: %w", len(b), ErrInvalid)
	}
	if b[8]>>4 != 0 {
		return Head{}, fmt.Errorf("OpusHead version %d: %w", b[8], ErrUnsupported)
	}
	h := Head{
		Channels:   b[9],
		PreSkip:    binary.LittleEndian.Uint16(b[10:]),
		InputRate:  binary.LittleEndian.Uint32(b[12:]),
		OutputGain: int16(binary.LittleEndian.Uint16(b[16:])),
	}
	switch {
	case b[18] != 0:
		return Head{}, fmt.Errorf("channel mapping family %d: %w", b[18], ErrUnsupported)
	case h.Channels == 0 || h.Channels > 2:
		return Head{}, fmt.Errorf("OpusHead with %d channels for mapping family 0: %w", h.Channels, ErrInvalid)
	}
	return h, nil
}

func (t Tags) marshal() []byte {
	keys := make([]string, 0, len(t.Comments))
	for k := range t.Comments {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := append([]byte(nil), tagsMagic...)
	b = appendString(b, t.Vendor)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = appendString(b, strings.ToUpper(k)+"="+t.Comments[k])
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func parseTags(b []byte) (Tags, error) {
	if len(b) < 8 || string(b[:8]) != tagsMagic {
		return Tags{}, fmt.Errorf("second packet is not OpusTags: %w", ErrInvalid)
	}
	b = b[8:]
	vendor, b, ok := cutString(b)
	if !ok || len(b) < 4 {
		return Tags{}, fmt.Errorf("OpusTags vendor string: %w", ErrTruncated)
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	t := Tags{Vendor: vendor, Comments: map[string]string{}}
	for i := uint32(0); i < n; i++ {
		var c string
		if c, b, ok = cutString(b); !ok {
			return Tags{}, fmt.Errorf("OpusTags comment %d of %d: %w", i+1, n, ErrTruncated)
		}
		if k, v, found := strings.Cut(c, "="); found {
			t.Comments[strings.ToUpper(k)] = v
		}
	}
	return t, nil
}

// cutString reads a 32-bit little-endian length and that many bytes.
func cutString(b []byte) (string, []byte, bool) {
	if len(b) < 4 {
		return "", nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return "", nil, false
	}
	return string(b[4 : 4+n]), b[4+n:], true
}
