package oggopus

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxPacketSize is the largest audio packet a reader accepts. RFC 7845,
// section 6, suggests 61,440 bytes, which no real Opus packet reaches.
const MaxPacketSize = 61440

// File is the content of an Ogg Opus stream.
type File struct {
	Head    Head
	Tags    Tags
	Packets [][]byte
	// Samples is the decoded length in 48 kHz samples after pre-skip and
	// end trimming.
	Samples int64
}

// page is one parsed Ogg page.
type page struct {
	flags   byte
	granule int64
	serial  uint32
	seq     uint32
	lacing  []byte
	body    []byte
}

// Read reads a whole Ogg Opus stream of one logical bitstream from r,
// reading at most maxBytes bytes. It checks page checksums, page order,
// header packets and granule positions.
func Read(r io.Reader, maxBytes int64) (*File, error) {
	lr := &io.LimitedReader{R: r, N: maxBytes + 1}
	br := bufio.NewReader(lr)
	d := demuxer{r: br}
	f, err := d.read()
	if lr.N <= 0 {
		return nil, fmt.Errorf("Ogg Opus input over %d bytes: %w", maxBytes, ErrTooLarge)
	}
	return f, err
}

// demuxer splits pages into packets and collects them into a File.
type demuxer struct {
	r       *bufio.Reader
	pages   int
	serial  uint32
	partial []byte // packet continued on the next page
	packets [][]byte
	total   int64 // samples of the audio packets so far
	granule int64 // granule of the last page that had one
	eos     bool
}

func (d *demuxer) read() (*File, error) {
	for !d.eos {
		p, err := readPage(d.r)
		if err == io.EOF && d.pages > 0 {
			return nil, fmt.Errorf("stream ends without an end-of-stream page: %w", ErrTruncated)
		}
		if err != nil {
			return nil, d.pageError(err)
		}
		if err := d.addPage(p); err != nil {
			return nil, err
		}
	}
	if d.partial != nil {
		return nil, fmt.Errorf("end-of-stream page ends inside a packet: %w", ErrTruncated)
	}
	if _, err := d.r.Peek(1); err == nil {
		return nil, fmt.Errorf("data after the end-of-stream page (a chained file): %w", ErrUnsupported)
	}
	return d.finish()
}

func (d *demuxer) pageError(err error) error {
	if d.pages == 0 && errors.Is(err, io.EOF) {
		return fmt.Errorf("empty input: %w", ErrNotOgg)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("Ogg page %d: %w", d.pages, ErrTruncated)
	}
	return fmt.Errorf("Ogg page %d: %w", d.pages, err)
}

// addPage checks p against the stream so far and collects its packets.
func (d *demuxer) addPage(p page) error {
	switch {
	case d.pages == 0 && p.flags&flagBOS == 0:
		return fmt.Errorf("first Ogg page lacks the beginning-of-stream flag: %w", ErrInvalid)
	case d.pages == 0:
		d.serial = p.serial
	case p.serial != d.serial:
		return fmt.Errorf("second logical stream %#x: %w", p.serial, ErrUnsupported)
	case p.seq != uint32(d.pages):
		return fmt.Errorf("Ogg page sequence %d, expected %d: %w", p.seq, d.pages, ErrInvalid)
	case p.flags&flagContinued != 0 && d.partial == nil:
		return fmt.Errorf("Ogg page %d continues a packet that never started: %w", d.pages, ErrInvalid)
	case p.flags&flagContinued == 0 && d.partial != nil:
		return fmt.Errorf("Ogg page %d drops an unfinished packet: %w", d.pages, ErrInvalid)
	}
	d.pages++
	d.eos = p.flags&flagEOS != 0
	finished := false
	for _, l := range p.lacing {
		n := int(l)
		d.partial = append(d.partial, p.body[:n]...)
		p.body = p.body[n:]
		if l == 255 {
			if len(d.partial) > d.packetLimit() {
				return fmt.Errorf("packet %d over %d bytes: %w", len(d.packets), d.packetLimit(), ErrTooLarge)
			}
			continue
		}
		if err := d.addPacket(d.partial); err != nil {
			return err
		}
		d.partial, finished = nil, true
	}
	if d.pages == 1 && (len(d.packets) != 1 || d.partial != nil) {
		return fmt.Errorf("Ogg page %d does not hold exactly one header packet: %w", d.pages-1, ErrInvalid)
	}
	if finished && p.granule != -1 {
		return d.setGranule(p.granule)
	}
	return nil
}

func (d *demuxer) packetLimit() int {
	if len(d.packets) < 2 {
		return maxTagsSize
	}
	return MaxPacketSize
}

func (d *demuxer) addPacket(b []byte) error {
	if len(d.packets) >= 2 {
		n, err := PacketSamples(b)
		if err != nil {
			return fmt.Errorf("audio packet %d: %w", len(d.packets)-2, err)
		}
		d.total += int64(n)
		if d.total > MaxSamples {
			return fmt.Errorf("stream longer than %d samples: %w", MaxSamples, ErrTooLarge)
		}
	}
	d.packets = append(d.packets, b)
	return nil
}

func (d *demuxer) setGranule(g int64) error {
	if g < d.granule {
		return fmt.Errorf("granule position %d goes back from %d: %w", g, d.granule, ErrInvalid)
	}
	d.granule = g
	return nil
}

// MaxSamples bounds the decoded length of a stream a reader accepts: 30
// minutes at 48 kHz. Opus packets of one byte can stand for 120 ms of
// audio, so a byte limit alone would not bound decoding memory.
const MaxSamples = 30 * 60 * 48000

func (d *demuxer) finish() (*File, error) {
	if len(d.packets) < 2 {
		return nil, fmt.Errorf("stream ends before its header packets: %w", ErrTruncated)
	}
	h, err := parseHead(d.packets[0])
	if err != nil {
		return nil, err
	}
	t, err := parseTags(d.packets[1])
	if err != nil {
		return nil, err
	}
	f := &File{Head: h, Tags: t, Packets: d.packets[2:]}
	// A final granule below the packets' total trims the end. Streams
	// that do not start at granule 0 are decoded in full.
	end := min(d.total, d.granule)
	if d.granule == 0 {
		end = d.total
	}
	f.Samples = max(end-int64(h.PreSkip), 0)
	return f, nil
}

// readPage reads and checks one Ogg page.
func readPage(r *bufio.Reader) (page, error) {
	var hdr [27]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return page{}, err
	}
	if string(hdr[:4]) != "OggS" {
		return page{}, fmt.Errorf("missing capture pattern OggS: %w", ErrNotOgg)
	}
	if hdr[4] != 0 {
		return page{}, fmt.Errorf("Ogg version %d: %w", hdr[4], ErrUnsupported)
	}
	p := page{
		flags:   hdr[5],
		granule: int64(binary.LittleEndian.Uint64(hdr[6:])),
		serial:  binary.LittleEndian.Uint32(hdr[14:]),
		seq:     binary.LittleEndian.Uint32(hdr[18:]),
		lacing:  make([]byte, hdr[26]),
	}
	if _, err := io.ReadFull(r, p.lacing); err != nil {
		return page{}, io.ErrUnexpectedEOF
	}
	size := 0
	for _, l := range p.lacing {
		size += int(l)
	}
	p.body = make([]byte, size)
	if _, err := io.ReadFull(r, p.body); err != nil {
		return page{}, io.ErrUnexpectedEOF
	}
	want := binary.LittleEndian.Uint32(hdr[22:])
	clear(hdr[22:26])
	got := crcUpdate(crcUpdate(crcUpdate(0, hdr[:]), p.lacing), p.body)
	if got != want {
		return page{}, fmt.Errorf("Ogg page CRC mismatch: computed %#08x, stored %#08x: %w", got, want, ErrInvalid)
	}
	return p, nil
}
