package oggopus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestPacketSamples(t *testing.T) {
	tests := []struct {
		name   string
		packet []byte
		want   int
		err    bool
	}{
		{"silk wb 20ms", []byte{0x48, 1, 2}, 960, false},
		{"silk nb 60ms", []byte{0x18, 1}, 2880, false},
		{"celt fb 2.5ms", []byte{0xe0, 1}, 120, false},
		{"hybrid fb 20ms", []byte{0x78, 1}, 960, false},
		{"code 1 two frames", []byte{0x49, 1, 2}, 1920, false},
		{"code 1 odd payload", []byte{0x49, 1, 2, 3}, 0, true},
		{"code 2", []byte{0x4a, 1, 9, 9}, 1920, false},
		{"code 2 bad length", []byte{0x4a, 200}, 0, true},
		{"code 3 three frames", []byte{0x4b, 3, 0}, 2880, false},
		{"code 3 zero frames", []byte{0x4b, 0}, 0, true},
		{"code 3 over 120ms", []byte{0x1b, 3}, 0, true},
		{"code 3 no count", []byte{0x4b}, 0, true},
		{"empty", nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PacketSamples(tt.packet)
			if (err != nil) != tt.err {
				t.Fatalf("PacketSamples(%x) error = %v, want error %v", tt.packet, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("PacketSamples(%x) = %d, want %d", tt.packet, got, tt.want)
			}
		})
	}
}

// writeStream writes packets as an Ogg Opus stream and returns its bytes.
func writeStream(t testing.TB, h Head, packets [][]byte, samples int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, 7, h, Tags{Vendor: "vm", Comments: map[string]string{"SENDER": "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range packets {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(samples); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakePackets returns n 20 ms SILK packets of varied sizes, some of them
// longer than 255 bytes so they take several lacing values.
func fakePackets(n int) [][]byte {
	ps := make([][]byte, n)
	for i := range ps {
		p := make([]byte, 1+(i*37)%600)
		p[0] = 0x48
		for j := 1; j < len(p); j++ {
			p[j] = byte(i + j)
		}
		ps[i] = p
	}
	return ps
}

func TestWriteReadRoundTrip(t *testing.T) {
	h := Head{Channels: 1, PreSkip: 312, InputRate: 16000}
	packets := fakePackets(260)
	samples := int64(260*960 - 312 - 500)
	data := writeStream(t, h, packets, samples)

	f, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if f.Head != h {
		t.Errorf("got head %+v, want %+v", f.Head, h)
	}
	if f.Samples != samples {
		t.Errorf("got %d samples, want %d", f.Samples, samples)
	}
	if got := f.Tags.Comments["SENDER"]; got != "alice" {
		t.Errorf("got SENDER %q, want alice", got)
	}
	if len(f.Packets) != len(packets) {
		t.Fatalf("got %d packets, want %d", len(f.Packets), len(packets))
	}
	for i := range packets {
		if !bytes.Equal(f.Packets[i], packets[i]) {
			t.Fatalf("packet %d differs", i)
		}
	}
}

func TestReadLimit(t *testing.T) {
	data := writeStream(t, Head{Channels: 1, PreSkip: 312}, fakePackets(50), 40000)
	_, err := Read(bytes.NewReader(data), int64(len(data)-1))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("got error %v, want ErrTooLarge", err)
	}
}

func TestWriterCloseRejects(t *testing.T) {
	tests := []struct {
		name    string
		packets int
		samples int64
	}{
		{"no packets", 0, 100},
		{"zero length", 3, 0},
		{"longer than packets", 3, 3 * 960},
		{"ends before last page", 100, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWriter(&bytes.Buffer{}, 1, Head{Channels: 1, PreSkip: 312}, Tags{})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range fakePackets(tt.packets) {
				if err := w.WritePacket(p); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(tt.samples); !errors.Is(err, ErrInvalid) {
				t.Errorf("got error %v, want ErrInvalid", err)
			}
		})
	}
}

// mutate returns a copy of data changed by f.
func mutate(data []byte, f func([]byte) []byte) []byte {
	return f(append([]byte(nil), data...))
}

// fixCRC recomputes the checksum of the page at off.
func fixCRC(b []byte, off int) []byte {
	n := int(b[off+26])
	size := 27 + n
	for _, l := range b[off+27 : off+27+n] {
		size += int(l)
	}
	clear(b[off+22 : off+26])
	binary.LittleEndian.PutUint32(b[off+22:], crcUpdate(0, b[off:off+size]))
	return b
}

func TestReadRejects(t *testing.T) {
	good := writeStream(t, Head{Channels: 1, PreSkip: 312}, fakePackets(60), 50000)
	headPage := 27 + 1 + headSize
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrNotOgg},
		{"text", []byte("hello, this is not audio at all, just some text\n"), ErrNotOgg},
		{"truncated", good[:len(good)/2], nil},
		{"bad checksum", mutate(good, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrInvalid},
		{"no BOS", mutate(good, func(b []byte) []byte { b[5] = 0; return fixCRC(b, 0) }), ErrInvalid},
		{"mapping family 1", mutate(good, func(b []byte) []byte { b[28+18] = 1; return fixCRC(b, 0) }), ErrUnsupported},
		{"three channels", mutate(good, func(b []byte) []byte { b[28+9] = 3; return fixCRC(b, 0) }), ErrInvalid},
		{"not OpusHead", mutate(good, func(b []byte) []byte { b[28] = 'X'; return fixCRC(b, 0) }), ErrUnsupported},
		{"second serial", mutate(good, func(b []byte) []byte { b[headPage+14] ^= 1; return fixCRC(b, headPage) }), ErrUnsupported},
		{"page sequence gap", mutate(good, func(b []byte) []byte { b[headPage+18] = 5; return fixCRC(b, headPage) }), ErrInvalid},
		{"headers only", good[:headPage], ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.data), 1<<20)
			if err == nil {
				t.Fatal("got no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestOpusToolsInterop checks the muxer against opus-tools: a file made
// by opusenc is read, rewritten packet for packet, and the rewrite must
// pass opusinfo and decode with opusdec to the same samples.
func TestOpusToolsInterop(t *testing.T) {
	for _, tool := range []string{"sox", "opusenc", "opusdec", "opusinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	wav := filepath.Join(dir, "in.wav")
	orig := filepath.Join(dir, "orig.opus")
	run(t, "sox", "-n", "-r", "16000", "-c", "1", "-b", "16", wav, "synth", "2.345", "sine", "300-3000")
	run(t, "opusenc", "--quiet", "--bitrate", "24", wav, orig)

	data, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Read opusenc output: %v", err)
	}
	if want := int64(2.345 * 48000); f.Samples != want {
		t.Errorf("got %d samples from opusenc file, want %d", f.Samples, want)
	}
	if f.Head.InputRate != 16000 {
		t.Errorf("got input rate %d, want 16000", f.Head.InputRate)
	}

	out := filepath.Join(dir, "rewritten.opus")
	if err := os.WriteFile(out, writeStream(t, f.Head, f.Packets, f.Samples), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "opusinfo", out)
	a := decode(t, orig)
	b := decode(t, out)
	if !bytes.Equal(a, b) {
		t.Errorf("opusdec output differs: %d bytes from opusenc's file, %d from ours", len(a), len(b))
	}
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// decode returns the raw 48 kHz samples opusdec makes of file.
func decode(t *testing.T, file string) []byte {
	t.Helper()
	raw := file + ".raw"
	run(t, "opusdec", "--quiet", "--rate", "48000", "--no-dither", "--force-wav", file, raw)
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzRead(f *testing.F) {
	f.Add(writeStream(f, Head{Channels: 1, PreSkip: 312}, fakePackets(5), 4000))
	f.Add(writeStream(f, Head{Channels: 2, PreSkip: 3840}, fakePackets(300), 280000))
	f.Add([]byte("OggS"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Read(bytes.NewReader(data), 1<<20)
		if err != nil {
			return
		}
		if file.Samples < 0 {
			t.Errorf("got negative length %d", file.Samples)
		}
		for i, p := range file.Packets {
			if len(p) > MaxPacketSize {
				t.Errorf("packet %d has %d bytes, above the limit", i, len(p))
			}
		}
	})
}
