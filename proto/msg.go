package proto

import (
	"bufio"
	"fmt"
	"io"

	"github.com/quic-go/quic-go/quicvarint"
	gproto "google.golang.org/protobuf/proto"
)

// AppendMessage appends m to b as a length-prefixed control message.
func AppendMessage(b []byte, m gproto.Message) ([]byte, error) {
	size := gproto.Size(m)
	if size > MaxControlSize {
		return b, fmt.Errorf("encode control message of %d bytes: %w", size, ErrTooLarge)
	}
	b = quicvarint.Append(b, uint64(size))
	return gproto.MarshalOptions{}.MarshalAppend(b, m)
}

// WriteMessage writes m to w as one length-prefixed control message.
func WriteMessage(w io.Writer, m gproto.Message) error {
	b, err := AppendMessage(nil, m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ReadMessage reads one length-prefixed control message from r into m.
// It reads no byte past the message, and rejects lengths above
// MaxControlSize before allocating.
func ReadMessage(r *bufio.Reader, m gproto.Message) error {
	b, err := readPrefixed(r, MaxControlSize)
	if err != nil {
		return fmt.Errorf("read control message: %w", err)
	}
	if err := gproto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("decode control message: %w: %v", ErrMalformed, err)
	}
	return nil
}

// readPrefixed reads a varint length and that many bytes, at most max.
func readPrefixed(r *bufio.Reader, max int) ([]byte, error) {
	n, err := quicvarint.Read(r)
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, ErrTruncated
		}
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("length %d above limit %d: %w", n, max, ErrTooLarge)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return nil, ErrTruncated
		}
		return nil, err
	}
	return b, nil
}
