package audio

import (
	"bytes"
	"encoding/binary"
	"github.com/vm-voice/vm/audio/oggopus"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const testLimit = 64 << 20

// loadWAV decodes a file from the shared testdata directory.
func loadWAV(t testing.TB, name string) *PCM {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := DecodeWAV(f, testLimit)
	if err != nil {
		t.Fatalf("DecodeWAV(%s): %v", name, err)
	}
	return p
}

// requireTool skips the test when a command-line tool is not installed.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not on PATH", name)
	}
	return path
}

// writeTemp writes data to a file in a per-test directory.
func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// soxDecode returns sox's float32 decode of a file, interleaved.
func soxDecode(t testing.TB, path string, extra ...string) []float32 {
	t.Helper()
	sox := requireTool(t, "sox")
	args := append([]string{"-V1", path, "-t", "f32", "-e", "floating-point"}, extra...)
	args = append(args, "-")
	cmd := exec.Command(sox, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sox %v: %v: %s", args, err, stderr.String())
	}
	samples := make([]float32, len(out)/4)
	for i := range samples {
		samples[i] = math.Float32frombits(binary.NativeEndian.Uint32(out[4*i:]))
	}
	return samples
}

// maxAbsDiff returns the largest sample difference over the common length.
func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range min(len(a), len(b)) {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// sine returns n samples of a sine wave at freq Hz and amplitude amp.
func sine(freq float64, rate, n int, amp float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

func encodeWAVBytes(t testing.TB, p *PCM) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := EncodeWAV(&buf, p); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decodeWAVBytes(t testing.TB, b []byte) *PCM {
	t.Helper()
	p, err := DecodeWAV(bytes.NewReader(b), testLimit)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeWAVFile(t testing.TB, path string) *PCM {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeWAVBytes(t, b)
}

// runSox runs sox with the given arguments and fails the test on error.
func runSox(t testing.TB, args ...string) {
	t.Helper()
	sox := requireTool(t, "sox")
	out, err := exec.Command(sox, append([]string{"-V1"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("sox %v: %v: %s", args, err, out)
	}
}

// oggHeaderSize is the fixed part of an Ogg page header, before its
// segment table.
const oggHeaderSize = 27

// oggCRC returns the Ogg checksum of a page whose checksum field is zero.
func oggCRC(_ uint32, page []byte) uint32 { return oggopus.Checksum(page) }
