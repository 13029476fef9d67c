package oggopus

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Header type flags of an Ogg page.
const (
	flagContinued = 0x01
	flagBOS       = 0x02
	flagEOS       = 0x04
)

// pageSamples is how much audio a Writer puts on one page: one second.
const pageSamples = 48000

// Writer writes one Ogg Opus stream. It buffers at most one page of
// packets, so memory stays bounded however long the stream is. A Writer
// is not safe for concurrent use.
type Writer struct {
	w       io.Writer
	serial  uint32
	seq     uint32
	head    Head
	granule int64    // granule at the end of the last buffered packet
	pending [][]byte // packets of the page being filled
	lacing  int      // lacing values the pending packets need
	start   int64    // granule at the start of the pending page
	packets int
	buf     []byte
}

// NewWriter writes the header pages of a stream to w and returns a Writer
// for its audio packets.
func NewWriter(w io.Writer, serial uint32, h Head, t Tags) (*Writer, error) {
	if h.Channels == 0 || h.Channels > 2 {
		return nil, fmt.Errorf("write OpusHead with %d channels: %w", h.Channels, ErrUnsupported)
	}
	wr := &Writer{w: w, serial: serial, head: h, granule: 0}
	if err := wr.writePage([][]byte{h.marshal()}, flagBOS, 0); err != nil {
		return nil, err
	}
	if err := wr.writePage([][]byte{t.marshal()}, 0, 0); err != nil {
		return nil, err
	}
	return wr, nil
}

// WritePacket adds one Opus packet to the stream. The packet's duration,
// read from its TOC byte, advances the granule position. p is copied.
func (w *Writer) WritePacket(p []byte) error {
	n, err := PacketSamples(p)
	if err != nil {
		return fmt.Errorf("write packet %d: %w", w.packets, err)
	}
	segs := len(p)/255 + 1
	if w.lacing+segs > 255 || w.granule-w.start >= pageSamples {
		if err := w.flush(0, w.granule); err != nil {
			return err
		}
	}
	w.pending = append(w.pending, append([]byte(nil), p...))
	w.lacing += segs
	w.granule += int64(n)
	w.packets++
	return nil
}

// Close writes the last page, marked end of stream, with the granule
// position PreSkip+samples. samples is the real audio length in 48 kHz
// samples and trims the decoded output's end; it must not exceed the
// packets' total duration less the pre-skip. Close does not close the
// underlying writer.
func (w *Writer) Close(samples int64) error {
	end := int64(w.head.PreSkip) + samples
	switch {
	case w.packets == 0:
		return fmt.Errorf("close Ogg Opus stream without audio packets: %w", ErrInvalid)
	case samples <= 0 || end > w.granule:
		return fmt.Errorf("close Ogg Opus stream: length %d samples does not fit %d samples of packets after pre-skip %d: %w",
			samples, w.granule, w.head.PreSkip, ErrInvalid)
	case end < w.start:
		return fmt.Errorf("close Ogg Opus stream: length %d samples ends before the last page: %w", samples, ErrInvalid)
	}
	return w.flush(flagEOS, end)
}

// flush writes the pending packets as one page with the given granule.
func (w *Writer) flush(flags byte, granule int64) error {
	if err := w.writePage(w.pending, flags, granule); err != nil {
		return err
	}
	w.pending = w.pending[:0]
	w.lacing = 0
	w.start = w.granule
	return nil
}

// writePage writes packets that fit one page (at most 255 lacing values).
func (w *Writer) writePage(packets [][]byte, flags byte, granule int64) error {
	b := append(w.buf[:0], "OggS"...)
	b = append(b, 0, flags)
	b = binary.LittleEndian.AppendUint64(b, uint64(granule))
	b = binary.LittleEndian.AppendUint32(b, w.serial)
	b = binary.LittleEndian.AppendUint32(b, w.seq)
	b = append(b, 0, 0, 0, 0, 0) // checksum, then the segment count
	for _, p := range packets {
		for n := len(p); ; n -= 255 {
			if n < 255 {
				b = append(b, byte(n))
				break
			}
			b = append(b, 255)
		}
	}
	if segs := len(b) - 27; segs > 255 {
		return fmt.Errorf("write Ogg page of %d segments: %w", segs, ErrTooLarge)
	}
	b[26] = byte(len(b) - 27)
	for _, p := range packets {
		b = append(b, p...)
	}
	binary.LittleEndian.PutUint32(b[22:], crcUpdate(0, b))
	w.buf = b
	w.seq++
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("write Ogg page %d: %w", w.seq-1, err)
	}
	return nil
}
