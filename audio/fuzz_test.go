package audio

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// fuzzLimit keeps fuzz inputs and their decoded forms small.
const fuzzLimit = 1 << 20

func FuzzDecodeWAV(f *testing.F) {
	src := &PCM{Rate: 8000, Channels: 2, Samples: sine(440, 8000, 64, 0.5)}
	for _, v := range wavVariants {
		f.Add(buildWAV(v.spec, src))
	}
	huge := buildWAV(wavSpec{tag: wavPCM, bits: 16}, src)
	binary.LittleEndian.PutUint32(huge[40:], 0xFFFFFFF0) // a 4 GB data claim
	f.Add(huge)
	f.Add([]byte("RIFF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeWAV(bytes.NewReader(data), fuzzLimit)
		if err != nil {
			return
		}
		if err := p.validate(); err != nil {
			t.Fatalf("DecodeWAV returned invalid PCM: %v", err)
		}
		if len(p.Samples) > 4*len(data) {
			t.Fatalf("DecodeWAV returned %d samples from %d bytes", len(p.Samples), len(data))
		}
	})
}

func FuzzReadOggOpus(f *testing.F) {
	p := &PCM{Rate: 16000, Channels: 1, Samples: sine(440, 16000, 4000, 0.5)}
	enc, err := EncodePCM(p, EncoderOptions{})
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteOggOpus(&buf, enc, testTags, 7); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:200])
	f.Fuzz(func(t *testing.T, data []byte) {
		// Most mutations break a page CRC, so the checks below also run on
		// a copy with the CRCs recomputed to reach the packet parsers.
		checkOggOpusInput(t, data)
		checkOggOpusInput(t, fixOggCRCs(data))
	})
}

func checkOggOpusInput(t *testing.T, data []byte) {
	info, err := ReadOggOpus(bytes.NewReader(data), fuzzLimit)
	if err != nil {
		return
	}
	if info.Samples < 0 || len(info.Packets) == 0 {
		t.Fatalf("ReadOggOpus returned %d samples in %d packets", info.Samples, len(info.Packets))
	}
	pcm, err := DecodeOggOpus(bytes.NewReader(data), fuzzLimit)
	if err != nil {
		return
	}
	if int64(pcm.Frames()) > info.Samples {
		t.Fatalf("DecodeOggOpus returned %d frames, more than the %d samples of the stream", pcm.Frames(), info.Samples)
	}
}

// fixOggCRCs returns a copy of data with the CRC of every complete page
// recomputed, stopping at the first bytes that do not form a page.
func fixOggCRCs(data []byte) []byte {
	out := bytes.Clone(data)
	for pos := 0; pos+oggHeaderSize <= len(out) && string(out[pos:pos+4]) == "OggS"; {
		segments := int(out[pos+26])
		end := pos + oggHeaderSize + segments
		if end > len(out) {
			break
		}
		for _, v := range out[pos+oggHeaderSize : end] {
			end += int(v)
		}
		if end > len(out) {
			break
		}
		clear(out[pos+22 : pos+26])
		binary.LittleEndian.PutUint32(out[pos+22:], oggCRC(0, out[pos:end]))
		pos = end
	}
	return out
}
