package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// WAV format tags from the fmt chunk.
const (
	wavPCM        = 0x0001
	wavFloat      = 0x0003
	wavALaw       = 0x0006
	wavMuLaw      = 0x0007
	wavExtensible = 0xFFFE
)

// wavTagNames names common WAV format tags that DecodeWAV rejects, for errors.
var wavTagNames = map[uint16]string{
	0x0002: "Microsoft ADPCM",
	0x0011: "IMA ADPCM",
	0x0031: "GSM 6.10",
	0x0050: "MPEG",
	0x0055: "MP3",
	0x0161: "WMA",
	0x0162: "WMA Pro",
	0x1610: "AAC",
}

// extensibleSuffix is the common tail of the KSDATAFORMAT_SUBTYPE GUIDs whose
// first two bytes carry an ordinary WAV format tag.
var extensibleSuffix = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// Limits on header fields of WAV input.
const (
	maxWAVChannels = 64
	minWAVRate     = 1000
	maxWAVRate     = 768000
	maxFmtChunk    = 4096
)

// wavFormat is the decoded fmt chunk.
type wavFormat struct {
	tag      uint16
	channels int
	rate     int
	bits     int // bits per sample in the container
}

// DecodeWAV reads a RIFF WAV file of at most maxBytes bytes. It accepts
// 8-bit unsigned, 16/24/32-bit integer, 32/64-bit float, A-law and µ-law
// samples, plain or WAVE_FORMAT_EXTENSIBLE headers, chunks in any order, and
// streaming files whose RIFF or data sizes are 0 or 0xFFFFFFFF. The chunks
// after the data chunk are not read when the fmt chunk came before it.
func DecodeWAV(r io.Reader, maxBytes int64) (*PCM, error) {
	w, err := openWAV(newBoundedReader(r, maxBytes))
	if err != nil {
		return nil, err
	}
	return w.decode(false, 0)
}

func readRIFFHeader(br *boundedReader) error {
	var hdr [12]byte
	n, err := io.ReadFull(br, hdr[:])
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	if n == 0 {
		return kindErrorf(ErrTruncated, "empty WAV input")
	}
	if n >= 4 && string(hdr[:4]) == "RF64" {
		return kindErrorf(ErrUnsupported, "RF64 WAV files are not supported: convert to a RIFF WAV under 4 GB")
	}
	if n >= 4 && string(hdr[:4]) != "RIFF" {
		return kindErrorf(ErrNotAudio, "missing RIFF header, got %q", hdr[:4])
	}
	if n < 12 {
		return kindErrorf(ErrTruncated, "read RIFF header: %d of 12 bytes", n)
	}
	if string(hdr[8:12]) != "WAVE" {
		return kindErrorf(ErrNotAudio, "RIFF form type %q is not WAVE", hdr[8:12])
	}
	return nil
}

// openWAV reads the RIFF header and the chunks up to the data chunk. When
// the fmt chunk comes first it stops at the start of the sample bytes, so
// they can be converted as they are read. Otherwise it reads the sample
// bytes into memory and walks on until it finds the fmt chunk.
func openWAV(br *boundedReader) (*wavStream, error) {
	if err := readRIFFHeader(br); err != nil {
		return nil, err
	}
	w := &wavStream{br: br}
	for {
		var hdr [8]byte
		n, err := io.ReadFull(br, hdr[:])
		if n == 0 && errors.Is(err, io.EOF) {
			return w.checkChunks()
		}
		if errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		if err != nil {
			if w.haveData && w.format != nil {
				return w, nil // trailing bytes after the last chunk
			}
			return nil, kindErrorf(ErrTruncated, "read chunk header at offset %d", br.count-int64(n))
		}
		id, size := string(hdr[:4]), binary.LittleEndian.Uint32(hdr[4:])
		done, err := w.readChunk(id, size)
		if err != nil || done {
			return w, err
		}
	}
}

// readChunk reads one chunk after its header. It reports done when the
// stream is ready for decoding.
func (w *wavStream) readChunk(id string, size uint32) (done bool, err error) {
	switch {
	case id == "fmt ":
		w.format, err = readFmtChunk(w.br, size)
		return false, err
	case id == "data" && !w.haveData:
		w.haveData = true
		// NOTE: a data chunk of size 0 is read as a streaming chunk, so a
		// truly empty data chunk followed by other chunks is misread.
		w.streaming = size == 0 || size == 0xFFFFFFFF
		w.dataSize = int64(size)
		if w.format != nil {
			return true, nil
		}
		if w.buffered, err = readDataChunk(w.br, size, w.streaming); err != nil {
			return false, err
		}
		if w.streaming {
			_, err := w.checkChunks()
			return true, err
		}
		w.dataSize = int64(len(w.buffered))
		return false, nil
	}
	if err := skipChunk(w.br, id, size); err != nil {
		if w.haveData && w.format != nil && errors.Is(err, ErrTruncated) {
			return true, nil // a damaged trailing chunk does not affect the audio
		}
		return false, err
	}
	return false, nil
}

func (w *wavStream) checkChunks() (*wavStream, error) {
	if w.format == nil {
		return nil, kindErrorf(ErrNotAudio, "WAV has no fmt chunk")
	}
	if !w.haveData {
		return nil, kindErrorf(ErrTruncated, "WAV has no data chunk")
	}
	return w, nil
}

// readDataChunk reads size bytes of samples plus the pad byte, or everything
// up to the end of input for a streaming chunk.
func readDataChunk(br *boundedReader, size uint32, streaming bool) ([]byte, error) {
	n := int64(size)
	if streaming {
		n = math.MaxInt64
	}
	data, err := br.readUpTo(n)
	if errors.Is(err, io.EOF) && !streaming {
		return nil, kindErrorf(ErrTruncated, "data chunk claims %d bytes but the input ends after %d", size, len(data))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read data chunk: %w", err)
	}
	if !streaming && size%2 == 1 {
		var pad [1]byte
		_, _ = io.ReadFull(br, pad[:]) // a missing final pad byte is harmless
	}
	return data, nil
}

func skipChunk(br *boundedReader, id string, size uint32) error {
	n := int64(size) + int64(size&1)
	copied, err := io.CopyN(io.Discard, br, n)
	if errors.Is(err, io.EOF) {
		if copied == n-1 && size&1 == 1 {
			return nil // only the pad byte is missing
		}
		return kindErrorf(ErrTruncated, "chunk %q claims %d bytes but the input ends after %d", id, size, copied)
	}
	if err != nil {
		return fmt.Errorf("skip chunk %q: %w", id, err)
	}
	return nil
}

func readFmtChunk(br *boundedReader, size uint32) (*wavFormat, error) {
	if size < 16 || size > maxFmtChunk {
		return nil, kindErrorf(ErrNotAudio, "invalid fmt chunk size %d: want 16 to %d bytes", size, maxFmtChunk)
	}
	buf := make([]byte, size+size&1)
	if err := br.readFull(buf[:size], "fmt chunk"); err != nil {
		return nil, err
	}
	if size&1 == 1 {
		_, _ = io.ReadFull(br, buf[size:])
	}
	return parseFmt(buf[:size])
}

func parseFmt(b []byte) (*wavFormat, error) {
	le := binary.LittleEndian
	f := &wavFormat{
		tag:      le.Uint16(b[0:]),
		channels: int(le.Uint16(b[2:])),
		rate:     int(le.Uint32(b[4:])),
		bits:     int(le.Uint16(b[14:])),
	}
	if f.tag == wavExtensible {
		if err := f.parseExtensible(b); err != nil {
			return nil, err
		}
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return f, nil
}

// parseExtensible replaces the tag with the sub-format of a
// WAVE_FORMAT_EXTENSIBLE header.
func (f *wavFormat) parseExtensible(b []byte) error {
	if len(b) < 40 {
		return kindErrorf(ErrNotAudio, "WAVE_FORMAT_EXTENSIBLE fmt chunk has %d bytes, want 40", len(b))
	}
	guid := b[24:40]
	if !bytes.Equal(guid[2:], extensibleSuffix) {
		return kindErrorf(ErrUnsupported, "unsupported WAVE_FORMAT_EXTENSIBLE sub-format GUID %x: convert to PCM WAV or Ogg Opus", guid)
	}
	f.tag = binary.LittleEndian.Uint16(guid)
	return nil
}

func (f *wavFormat) check() error {
	if err := f.checkEncoding(); err != nil {
		return err
	}
	if f.channels < 1 || f.channels > maxWAVChannels {
		return kindErrorf(ErrUnsupported, "unsupported WAV channel count %d: want 1 to %d", f.channels, maxWAVChannels)
	}
	if f.rate < minWAVRate || f.rate > maxWAVRate {
		return kindErrorf(ErrUnsupported, "unsupported WAV sample rate %d Hz: want %d to %d Hz", f.rate, minWAVRate, maxWAVRate)
	}
	return nil
}

func (f *wavFormat) checkEncoding() error {
	valid := false
	switch f.tag {
	case wavPCM:
		valid = f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32
	case wavFloat:
		valid = f.bits == 32 || f.bits == 64
	case wavALaw, wavMuLaw:
		valid = f.bits == 8
	default:
		name := wavTagNames[f.tag]
		if name == "" {
			name = "unknown"
		}
		return kindErrorf(ErrUnsupported, "unsupported WAV format tag 0x%04X (%s): convert to PCM WAV or Ogg Opus", f.tag, name)
	}
	if !valid {
		return kindErrorf(ErrUnsupported, "unsupported %d-bit samples for WAV format tag 0x%04X: convert to 16-bit PCM WAV", f.bits, f.tag)
	}
	return nil
}

// converter returns the function that maps one stored sample to [-1,1].
func (f *wavFormat) converter() func([]byte) float32 {
	le := binary.LittleEndian
	switch {
	case f.tag == wavALaw:
		return func(b []byte) float32 { return float32(alawToLinear(b[0])) / 32768 }
	case f.tag == wavMuLaw:
		return func(b []byte) float32 { return float32(mulawToLinear(b[0])) / 32768 }
	case f.tag == wavFloat && f.bits == 32:
		return func(b []byte) float32 { return clampSample(float64(math.Float32frombits(le.Uint32(b)))) }
	case f.tag == wavFloat:
		return func(b []byte) float32 { return clampSample(math.Float64frombits(le.Uint64(b))) }
	case f.bits == 8:
		return func(b []byte) float32 { return float32(int(b[0])-128) / 128 }
	case f.bits == 16:
		return func(b []byte) float32 { return float32(int16(le.Uint16(b))) / (1 << 15) }
	case f.bits == 24:
		return func(b []byte) float32 {
			v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
			return float32(v) / (1 << 23)
		}
	default:
		return func(b []byte) float32 { return float32(float64(int32(le.Uint32(b))) / (1 << 31)) }
	}
}

// clampSample maps a float sample into [-1,1], turning NaN into silence.
func clampSample(v float64) float32 {
	switch {
	case math.IsNaN(v):
		return 0
	case v > 1:
		return 1
	case v < -1:
		return -1
	}
	return float32(v)
}

// alawToLinear expands one G.711 A-law byte to a 16-bit linear sample.
func alawToLinear(a byte) int16 {
	a ^= 0x55
	exponent := int(a>>4) & 7
	mantissa := int(a & 0x0F)
	v := mantissa<<4 + 8
	if exponent > 0 {
		v = (v + 0x100) << (exponent - 1)
	}
	if a&0x80 == 0 {
		v = -v
	}
	return int16(v)
}

// mulawToLinear expands one G.711 µ-law byte to a 16-bit linear sample.
func mulawToLinear(u byte) int16 {
	u = ^u
	exponent := int(u>>4) & 7
	mantissa := int(u & 0x0F)
	v := ((mantissa << 3) + 0x84) << exponent
	v -= 0x84
	if u&0x80 != 0 {
		v = -v
	}
	return int16(v)
}

// EncodeWAV writes p as a 16-bit PCM WAV file, rounding and clipping each
// sample to the int16 range.
func EncodeWAV(w io.Writer, p *PCM) error {
	if err := p.validate(); err != nil {
		return err
	}
	dataSize := int64(len(p.Samples)) * 2
	if dataSize > math.MaxUint32-36 || p.Channels > math.MaxUint16 {
		return kindErrorf(ErrTooLarge, "encode WAV: %d samples in %d channels do not fit a RIFF file", len(p.Samples), p.Channels)
	}
	hdr := wavHeader(p.Rate, p.Channels, uint32(dataSize))
	buf := make([]byte, 0, len(hdr)+int(dataSize))
	buf = append(buf, hdr...)
	for _, s := range p.Samples {
		buf = binary.LittleEndian.AppendUint16(buf, uint16(toInt16(s)))
	}
	if dataSize%2 == 1 {
		buf = append(buf, 0)
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write WAV: %w", err)
	}
	return nil
}

func wavHeader(rate, channels int, dataSize uint32) []byte {
	le := binary.LittleEndian
	b := make([]byte, 0, 44)
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, 36+dataSize+dataSize&1)
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, wavPCM)
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*channels*2))
	b = le.AppendUint16(b, uint16(channels*2))
	b = le.AppendUint16(b, 16)
	b = append(b, "data"...)
	return le.AppendUint32(b, dataSize)
}

// toInt16 rounds a sample in [-1,1] to int16, clipping values outside.
func toInt16(s float32) int16 {
	v := math.Round(float64(s) * 32768)
	return int16(max(-32768, min(32767, v)))
}
