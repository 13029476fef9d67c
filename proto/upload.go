package proto

import (
	"bufio"
	"fmt"

	"github.com/quic-go/quic-go/quicvarint"
)

// Upload record kinds. Each record on an upload stream is a varint length
// followed by that many bytes: one kind byte, then the body.
//
//	RecordFrame  body is a voice frame (see Frame)
//	RecordEnd    body is a varint: the message length in 48 kHz samples,
//	             not counting the encoder's pre-skip
const (
	RecordFrame = 1
	RecordEnd   = 2
)

// Record is one parsed upload record. For RecordFrame, Frame is set; for
// RecordEnd, Samples is.
type Record struct {
	Kind    uint8
	Frame   Frame
	Samples uint64
}

// AppendFrameRecord appends f as an upload record to b.
func AppendFrameRecord(b []byte, f *Frame) []byte {
	b = quicvarint.Append(b, uint64(1+FrameHeaderSize+len(f.Payload)))
	b = append(b, RecordFrame)
	return AppendFrame(b, f)
}

// AppendEndRecord appends the end record of an upload to b.
func AppendEndRecord(b []byte, samples uint64) []byte {
	b = quicvarint.Append(b, uint64(1+quicvarint.Len(samples)))
	b = append(b, RecordEnd)
	return quicvarint.Append(b, samples)
}

// ReadRecord reads one upload record from r. The frame payload of a
// RecordFrame points into a fresh buffer that the caller owns.
func ReadRecord(r *bufio.Reader) (Record, error) {
	b, err := readPrefixed(r, MaxRecordSize)
	if err != nil {
		return Record{}, fmt.Errorf("read upload record: %w", err)
	}
	return ParseRecord(b)
}

// ParseRecord parses the body of one upload record, without its length
// prefix.
func ParseRecord(b []byte) (Record, error) {
	if len(b) == 0 {
		return Record{}, fmt.Errorf("empty upload record: %w", ErrMalformed)
	}
	switch b[0] {
	case RecordFrame:
		f, err := ParseFrame(b[1:])
		return Record{Kind: RecordFrame, Frame: f}, err
	case RecordEnd:
		n, l, err := quicvarint.Parse(b[1:])
		if err != nil {
			return Record{}, fmt.Errorf("upload end record: %w", ErrTruncated)
		}
		if 1+l != len(b) {
			return Record{}, fmt.Errorf("upload end record with %d trailing bytes: %w", len(b)-1-l, ErrMalformed)
		}
		return Record{Kind: RecordEnd, Samples: n}, nil
	}
	return Record{}, fmt.Errorf("upload record kind %d: %w", b[0], ErrMalformed)
}
