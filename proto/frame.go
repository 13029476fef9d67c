package proto

import (
	"encoding/binary"
	"fmt"
)

// FrameHeaderSize is the size of a voice frame's fixed header.
//
//	byte  0     flags (FlagFirst, FlagLast, FlagEncrypted)
//	byte  1     key id; 0 when the frame is not encrypted
//	bytes 2-3   stream handle, big endian: names the message within a session
//	bytes 4-7   sequence number, big endian, 0 for the first frame
//	bytes 8-11  timestamp in 48 kHz samples since the message start
//	bytes 12-   Opus packet, or ciphertext and a 16-byte AEAD tag whose
//	            nonce is derived from the sequence number
const FrameHeaderSize = 12

// Frame flags.
const (
	FlagFirst     = 0x01 // first frame of a talk spurt
	FlagLast      = 0x02 // last frame of a talk spurt
	FlagEncrypted = 0x04 // payload is AEAD ciphertext under KeyID
	knownFlags    = FlagFirst | FlagLast | FlagEncrypted
)

// Frame is one voice frame. Payload aliases the buffer it was parsed from.
type Frame struct {
	Flags     uint8
	KeyID     uint8
	Handle    uint16
	Seq       uint32
	Timestamp uint32
	Payload   []byte
}

// AppendFrame appends the wire form of f to b.
func AppendFrame(b []byte, f *Frame) []byte {
	b = append(b, f.Flags, f.KeyID)
	b = binary.BigEndian.AppendUint16(b, f.Handle)
	b = binary.BigEndian.AppendUint32(b, f.Seq)
	b = binary.BigEndian.AppendUint32(b, f.Timestamp)
	return append(b, f.Payload...)
}

// ParseFrame parses a voice frame from b. The returned Payload aliases b.
func ParseFrame(b []byte) (Frame, error) {
	if len(b) < FrameHeaderSize {
		return Frame{}, fmt.Errorf("voice frame of %d bytes: %w", len(b), ErrTruncated)
	}
	f := Frame{
		Flags:     b[0],
		KeyID:     b[1],
		Handle:    binary.BigEndian.Uint16(b[2:]),
		Seq:       binary.BigEndian.Uint32(b[4:]),
		Timestamp: binary.BigEndian.Uint32(b[8:]),
		Payload:   b[FrameHeaderSize:],
	}
	switch {
	case f.Flags&^knownFlags != 0:
		return Frame{}, fmt.Errorf("voice frame flags %#x: %w", f.Flags, ErrMalformed)
	case len(f.Payload) == 0:
		return Frame{}, fmt.Errorf("voice frame without payload: %w", ErrMalformed)
	case len(f.Payload) > MaxFramePayload:
		return Frame{}, fmt.Errorf("voice frame payload of %d bytes: %w", len(f.Payload), ErrTooLarge)
	case f.Flags&FlagEncrypted == 0 && f.KeyID != 0:
		return Frame{}, fmt.Errorf("plaintext voice frame with key id %d: %w", f.KeyID, ErrMalformed)
	}
	return f, nil
}
