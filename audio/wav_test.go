package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
)

// wavSpec describes a WAV file for buildWAV.
type wavSpec struct {
	tag        uint16 // tag is wavPCM or wavFloat.
	bits       int
	extensible bool
	riffSize   *uint32 // riffSize overrides the RIFF size field.
	dataSize   *uint32 // dataSize overrides the data size field.
	before     []chunk // before are chunks placed before fmt.
	between    []chunk // between are chunks placed between fmt and data.
	after      []chunk // after are chunks placed after data.
}

type chunk struct {
	id   string
	body []byte
}

func u32(v uint32) *uint32 { return &v }

func appendChunk(b []byte, c chunk) []byte {
	b = append(b, c.id...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.body)))
	b = append(b, c.body...)
	if len(c.body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// encodeSample stores one sample in the spec's encoding.
func (s wavSpec) encodeSample(b []byte, v float32) []byte {
	le := binary.LittleEndian
	x := float64(v)
	switch {
	case s.tag == wavFloat && s.bits == 32:
		return le.AppendUint32(b, math.Float32bits(v))
	case s.tag == wavFloat:
		return le.AppendUint64(b, math.Float64bits(x))
	case s.bits == 8:
		return append(b, byte(max(0, min(255, math.Round(x*128)+128))))
	case s.bits == 16:
		return le.AppendUint16(b, uint16(int16(max(-32768, min(32767, math.Round(x*32768))))))
	case s.bits == 24:
		q := int32(max(-(1 << 23), min(1<<23-1, math.Round(x*(1<<23)))))
		return append(b, byte(q), byte(q>>8), byte(q>>16))
	default:
		q := int32(max(-(1 << 31), min(1<<31-1, math.Round(x*(1<<31)))))
		return le.AppendUint32(b, uint32(q))
	}
}

func (s wavSpec) fmtChunk(p *PCM) chunk {
	le := binary.LittleEndian
	tag := s.tag
	if s.extensible {
		tag = wavExtensible
	}
	block := p.Channels * s.bits / 8
	b := le.AppendUint16(nil, tag)
	b = le.AppendUint16(b, uint16(p.Channels))
	b = le.AppendUint32(b, uint32(p.Rate))
	b = le.AppendUint32(b, uint32(p.Rate*block))
	b = le.AppendUint16(b, uint16(block))
	b = le.AppendUint16(b, uint16(s.bits))
	if s.extensible {
		b = le.AppendUint16(b, 22)
		b = le.AppendUint16(b, uint16(s.bits))
		b = le.AppendUint32(b, 0) // channel mask
		b = le.AppendUint16(b, s.tag)
		b = append(b, extensibleSuffix...)
	}
	return chunk{"fmt ", b}
}

// buildWAV encodes p as a WAV file laid out as spec describes.
func buildWAV(spec wavSpec, p *PCM) []byte {
	var data []byte
	for _, v := range p.Samples {
		data = spec.encodeSample(data, v)
	}
	var body []byte
	for _, c := range spec.before {
		body = appendChunk(body, c)
	}
	body = appendChunk(body, spec.fmtChunk(p))
	for _, c := range spec.between {
		body = appendChunk(body, c)
	}
	dataStart := len(body)
	body = appendChunk(body, chunk{"data", data})
	if spec.dataSize != nil {
		binary.LittleEndian.PutUint32(body[dataStart+4:], *spec.dataSize)
	}
	for _, c := range spec.after {
		body = appendChunk(body, c)
	}
	out := append([]byte("RIFF"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:], uint32(4+len(body)))
	if spec.riffSize != nil {
		binary.LittleEndian.PutUint32(out[4:], *spec.riffSize)
	}
	out = append(out, "WAVE"...)
	return append(out, body...)
}

var listChunk = chunk{"LIST", append([]byte("INFOINAM"), 5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o', 0)}

// wavVariants lists the WAV layouts that DecodeWAV must read.
var wavVariants = []struct {
	name string
	spec wavSpec
}{
	{"pcm8", wavSpec{tag: wavPCM, bits: 8}},
	{"pcm16", wavSpec{tag: wavPCM, bits: 16}},
	{"pcm24", wavSpec{tag: wavPCM, bits: 24}},
	{"pcm32", wavSpec{tag: wavPCM, bits: 32}},
	{"float32", wavSpec{tag: wavFloat, bits: 32}},
	{"float64", wavSpec{tag: wavFloat, bits: 64}},
	{"extensible16", wavSpec{tag: wavPCM, bits: 16, extensible: true}},
	{"extensible24", wavSpec{tag: wavPCM, bits: 24, extensible: true}},
	{"extensibleFloat", wavSpec{tag: wavFloat, bits: 32, extensible: true}},
	{"listBeforeFmt", wavSpec{tag: wavPCM, bits: 16, before: []chunk{listChunk}}},
	{"listBeforeData", wavSpec{tag: wavPCM, bits: 16, between: []chunk{listChunk}}},
	{"listAfterData", wavSpec{tag: wavPCM, bits: 16, after: []chunk{listChunk}}},
	{"oddChunks", wavSpec{tag: wavPCM, bits: 16, between: []chunk{{"junk", []byte{1, 2, 3}}}, after: []chunk{{"cue ", []byte{7}}}}},
	{"streamingZero", wavSpec{tag: wavPCM, bits: 16, riffSize: u32(0), dataSize: u32(0)}},
	{"streamingMax", wavSpec{tag: wavPCM, bits: 16, riffSize: u32(0xFFFFFFFF), dataSize: u32(0xFFFFFFFF)}},
}

func TestDecodeWAVVariantsMatchSox(t *testing.T) {
	sources := map[string]*PCM{"mono16k": loadWAV(t, "speech-16k.wav"), "stereo44k": loadWAV(t, "speech-44k-stereo.wav")}
	for srcName, src := range sources {
		for _, v := range wavVariants {
			t.Run(srcName+"/"+v.name, func(t *testing.T) {
				file := buildWAV(v.spec, src)
				got, err := DecodeWAV(bytes.NewReader(file), testLimit)
				if err != nil {
					t.Fatalf("DecodeWAV: got error %v, want nil", err)
				}
				if got.Rate != src.Rate || got.Channels != src.Channels {
					t.Fatalf("format: got %d Hz %d ch, want %d Hz %d ch", got.Rate, got.Channels, src.Rate, src.Channels)
				}
				if len(got.Samples) != len(src.Samples) {
					t.Fatalf("samples: got %d, want %d", len(got.Samples), len(src.Samples))
				}
				quantum := 1 / math.Exp2(float64(v.spec.bits-1))
				if d := maxAbsDiff(got.Samples, src.Samples); d > quantum {
					t.Errorf("max difference from source: got %g, want <= %g", d, quantum)
				}
				ref := file
				if v.spec.dataSize != nil && *v.spec.dataSize == 0 {
					// sox reads a data size of 0 as an empty chunk, so it
					// decodes the same layout with the real sizes instead.
					fixed := v.spec
					fixed.riffSize, fixed.dataSize = nil, nil
					ref = buildWAV(fixed, src)
				}
				want := soxDecode(t, writeTemp(t, v.name+".wav", ref))
				if len(want) != len(got.Samples) {
					t.Fatalf("samples vs sox: got %d, want %d", len(got.Samples), len(want))
				}
				if d := maxAbsDiff(got.Samples, want); d > 1e-6 {
					t.Errorf("max difference from sox: got %g, want <= 1e-6", d)
				}
			})
		}
	}
}

func TestDecodeWAVCompanded(t *testing.T) {
	src := loadWAV(t, "speech-16k.wav")
	for _, encoding := range []string{"a-law", "u-law"} {
		t.Run(encoding, func(t *testing.T) {
			path := writeTemp(t, "in.wav", encodeWAVBytes(t, src))
			out := strings.Replace(path, "in.wav", "out.wav", 1)
			runSox(t, path, "-e", encoding, "-b", "8", out)
			got := decodeWAVFile(t, out)
			want := soxDecode(t, out)
			if len(got.Samples) != len(want) {
				t.Fatalf("samples: got %d, want %d", len(got.Samples), len(want))
			}
			if d := maxAbsDiff(got.Samples, want); d > 1e-6 {
				t.Errorf("max difference from sox: got %g, want <= 1e-6", d)
			}
		})
	}
}

func TestDecodeWAVErrors(t *testing.T) {
	src := &PCM{Rate: 16000, Channels: 1, Samples: sine(440, 16000, 1600, 0.5)}
	valid := buildWAV(wavSpec{tag: wavPCM, bits: 16}, src)
	mp3 := bytes.Clone(valid)
	binary.LittleEndian.PutUint16(mp3[20:], 0x0055)
	bits12 := bytes.Clone(valid)
	binary.LittleEndian.PutUint16(bits12[34:], 12)
	noChannels := bytes.Clone(valid)
	binary.LittleEndian.PutUint16(noChannels[22:], 0)
	badGUID := buildWAV(wavSpec{tag: wavPCM, bits: 16, extensible: true}, src)
	badGUID[len(badGUID)-len(src.Samples)*2-9] ^= 0xFF

	tests := []struct {
		name  string
		input []byte
		limit int64
		want  error
		text  string
	}{
		{"empty", nil, testLimit, ErrTruncated, "empty"},
		{"text", []byte("hello, this is not a WAV file"), testLimit, ErrNotAudio, "RIFF"},
		{"notWave", append([]byte("RIFF\x00\x00\x00\x00AVI "), valid[12:]...), testLimit, ErrNotAudio, "WAVE"},
		{"rf64", append([]byte("RF64"), valid[4:]...), testLimit, ErrUnsupported, "RF64"},
		{"headerOnly", valid[:12], testLimit, ErrNotAudio, "fmt"},
		{"cutInFmt", valid[:30], testLimit, ErrTruncated, "fmt"},
		{"cutInData", valid[:len(valid)-100], testLimit, ErrTruncated, "data"},
		{"noData", valid[:36], testLimit, ErrTruncated, "data"},
		{"mp3", mp3, testLimit, ErrUnsupported, "0x0055 (MP3)"},
		{"12bit", bits12, testLimit, ErrUnsupported, "12-bit"},
		{"noChannels", noChannels, testLimit, ErrUnsupported, "channel count 0"},
		{"badGUID", badGUID, testLimit, ErrUnsupported, "GUID"},
		{"tooLarge", valid, 1000, ErrTooLarge, "1000 bytes"},
		{"hugeDataClaim", append(bytes.Clone(valid[:40]), 0xF0, 0xFF, 0xFF, 0xFF, 1, 2), testLimit, ErrTruncated, "data chunk claims"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeWAV(bytes.NewReader(tt.input), tt.limit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error: got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("message: got %q, want it to contain %q", err, tt.text)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("message: got %q, want one line", err)
			}
		})
	}
}

func TestEncodeWAVRoundTrip(t *testing.T) {
	src := loadWAV(t, "speech-44k-stereo.wav")
	got := decodeWAVBytes(t, encodeWAVBytes(t, src))
	if got.Rate != src.Rate || got.Channels != src.Channels {
		t.Fatalf("format: got %d Hz %d ch, want %d Hz %d ch", got.Rate, got.Channels, src.Rate, src.Channels)
	}
	if d := maxAbsDiff(got.Samples, src.Samples); d != 0 {
		t.Errorf("max difference: got %g, want 0", d)
	}
}

func TestToMonoNeverClips(t *testing.T) {
	p := &PCM{Rate: 8000, Channels: 3, Samples: []float32{1, 1, 1, -1, -1, -1, 1, -1, 0.5}}
	got := ToMono(p)
	want := []float32{1, -1, 0.5 / 3}
	if len(got.Samples) != len(want) {
		t.Fatalf("samples: got %d, want %d", len(got.Samples), len(want))
	}
	for i := range want {
		if math.Abs(float64(got.Samples[i]-want[i])) > 1e-7 {
			t.Errorf("sample %d: got %g, want %g", i, got.Samples[i], want[i])
		}
	}
}
