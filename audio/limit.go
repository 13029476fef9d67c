package audio

import (
	"errors"
	"fmt"
	"io"
)

// boundedReader reads from r and fails with ErrTooLarge once more than max
// bytes have been read. It counts bytes so that errors can name an offset.
type boundedReader struct {
	r     io.Reader
	max   int64
	count int64
}

func newBoundedReader(r io.Reader, maxBytes int64) *boundedReader {
	return &boundedReader{r: r, max: maxBytes}
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.count > b.max {
		return 0, b.tooLarge()
	}
	if room := b.max - b.count + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	b.count += int64(n)
	if b.count > b.max {
		return n, b.tooLarge()
	}
	return n, err
}

func (b *boundedReader) tooLarge() error {
	return kindErrorf(ErrTooLarge, "input exceeds the limit of %d bytes", b.max)
}

// readFull fills p and maps a short read to ErrTruncated, naming the field.
func (b *boundedReader) readFull(p []byte, field string) error {
	_, err := io.ReadFull(b, p)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return kindErrorf(ErrTruncated, "truncated: the input ends inside the %s, at offset %d", field, b.count)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", field, err)
	}
	return nil
}

// readUpTo reads at most n bytes, growing the result as data arrives so that
// a size claimed by a header never causes a large allocation by itself.
func (b *boundedReader) readUpTo(n int64) ([]byte, error) {
	const step = 1 << 16
	var out []byte
	for int64(len(out)) < n {
		chunk := min(n-int64(len(out)), step)
		start := len(out)
		out = append(out, make([]byte, chunk)...)
		got, err := io.ReadFull(b, out[start:])
		out = out[:start+got]
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return out, io.EOF
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
