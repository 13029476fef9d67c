package audio

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testTags = map[string]string{
	"SENDER":       "alice",
	"CONVERSATION": "c-42",
	"MESSAGE_ID":   "01HZX3V7Q9",
	"DATE":         "2025-01-02T03:04:05Z",
}

// encodeOgg encodes p and returns the Ogg Opus file.
func encodeOgg(t testing.TB, p *PCM) (*Encoded, []byte) {
	t.Helper()
	enc, err := EncodePCM(p, EncoderOptions{})
	if err != nil {
		t.Fatalf("EncodePCM: %v", err)
	}
	var buf bytes.Buffer
	if err := WriteOggOpus(&buf, enc, testTags, 0x1234); err != nil {
		t.Fatalf("WriteOggOpus: %v", err)
	}
	return enc, buf.Bytes()
}

// within reports whether got is within tolerance of want.
func within(got, want, tolerance time.Duration) bool {
	return (got - want).Abs() <= tolerance
}

func TestOggOpusRoundTrip(t *testing.T) {
	for _, name := range []string{"speech-16k.wav", "speech-22k.wav", "speech-44k-stereo.wav"} {
		t.Run(name, func(t *testing.T) {
			src := loadWAV(t, name)
			enc, file := encodeOgg(t, src)
			path := writeTemp(t, "out.opus", file)

			got, err := DecodeOggOpus(bytes.NewReader(file), testLimit)
			if err != nil {
				t.Fatalf("DecodeOggOpus: %v", err)
			}
			if got.Rate != SampleRate || got.Channels != 1 {
				t.Errorf("format: got %d Hz %d ch, want 48000 Hz 1 ch", got.Rate, got.Channels)
			}
			if !within(got.Duration(), src.Duration(), 20*time.Millisecond) {
				t.Errorf("decoded duration: got %v, want %v ± 20 ms", got.Duration(), src.Duration())
			}
			ref := resampledMono(t, src)
			corr, lag := Correlate(ref.Samples, got.Samples, SampleRate, 0.05)
			t.Logf("correlation %.4f at lag %d, %d packets, %d bytes", corr, lag, len(enc.Packets), len(file))
			if corr < 0.9 {
				t.Errorf("correlation with input: got %.3f, want >= 0.9", corr)
			}
			if lag < -48 || lag > 48 {
				t.Errorf("lag: got %d samples, want within ±1 ms", lag)
			}
			checkOpusTools(t, path, src.Duration())
		})
	}
}

// resampledMono returns p mixed to mono at 48 kHz.
func resampledMono(t testing.TB, p *PCM) *PCM {
	t.Helper()
	out, err := Resample(ToMono(p), SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkOpusTools runs opusinfo, ffprobe and opusdec on an Ogg Opus file.
func checkOpusTools(t *testing.T, path string, want time.Duration) {
	t.Run("opusinfo", func(t *testing.T) {
		out, err := exec.Command(requireTool(t, "opusinfo"), path).CombinedOutput()
		if err != nil {
			t.Fatalf("opusinfo: %v: %s", err, out)
		}
		for _, bad := range []string{"WARNING", "ERROR"} {
			if strings.Contains(strings.ToUpper(string(out)), bad) {
				t.Errorf("opusinfo output: got %s, want no %s", out, bad)
			}
		}
		if !strings.Contains(string(out), "SENDER=alice") {
			t.Errorf("opusinfo output: got %s, want SENDER=alice", out)
		}
	})
	t.Run("ffprobe", func(t *testing.T) {
		out, err := exec.Command(requireTool(t, "ffprobe"), "-v", "error", "-show_entries", "format=duration",
			"-of", "default=noprint_wrappers=1:nokey=1", path).Output()
		if err != nil {
			t.Fatalf("ffprobe: %v", err)
		}
		seconds, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			t.Fatalf("ffprobe duration %q: %v", out, err)
		}
		if got := time.Duration(seconds * float64(time.Second)); !within(got, want, 20*time.Millisecond) {
			t.Errorf("ffprobe duration: got %v, want %v ± 20 ms", got, want)
		}
	})
	t.Run("opusdec", func(t *testing.T) {
		wav := filepath.Join(t.TempDir(), "dec.wav")
		out, err := exec.Command(requireTool(t, "opusdec"), "--quiet", "--rate", "48000", path, wav).CombinedOutput()
		if err != nil {
			t.Fatalf("opusdec: %v: %s", err, out)
		}
		got := decodeWAVFile(t, wav)
		if !within(got.Duration(), want, 20*time.Millisecond) {
			t.Errorf("opusdec duration: got %v, want %v ± 20 ms", got.Duration(), want)
		}
	})
}

func TestReadOggOpusTags(t *testing.T) {
	src := loadWAV(t, "speech-16k.wav")
	enc, file := encodeOgg(t, src)
	info, err := ReadOggOpus(bytes.NewReader(file), testLimit)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range testTags {
		if got := info.Tags[k]; got != want {
			t.Errorf("tag %s: got %q, want %q", k, got, want)
		}
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ENCODER", info.Tags["ENCODER"], "vm"},
		{"vendor", info.Vendor, "vm"},
		{"pre-skip", info.PreSkip, enc.PreSkip},
		{"input rate", info.InputRate, uint32(16000)},
		{"channels", info.Channels, 1},
		{"samples", info.Samples, enc.Samples},
		{"packets", len(info.Packets), len(enc.Packets)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestReadOggOpusFromOpusenc(t *testing.T) {
	opusenc := requireTool(t, "opusenc")
	for _, name := range []string{"speech-16k.wav", "speech-44k-stereo.wav"} {
		t.Run(name, func(t *testing.T) {
			src := loadWAV(t, name)
			path := filepath.Join(t.TempDir(), "ref.opus")
			out, err := exec.Command(opusenc, "--quiet", "--comment", "SENDER=bob", "../testdata/"+name, path).CombinedOutput()
			if err != nil {
				t.Fatalf("opusenc: %v: %s", err, out)
			}
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			info, err := ReadOggOpus(bytes.NewReader(file), testLimit)
			if err != nil {
				t.Fatalf("ReadOggOpus: %v", err)
			}
			if info.Tags["SENDER"] != "bob" {
				t.Errorf("SENDER: got %q, want %q", info.Tags["SENDER"], "bob")
			}
			if info.Channels != src.Channels {
				t.Errorf("channels: got %d, want %d", info.Channels, src.Channels)
			}
			got, err := DecodeOggOpus(bytes.NewReader(file), testLimit)
			if err != nil {
				t.Fatalf("DecodeOggOpus: %v", err)
			}
			if !within(got.Duration(), src.Duration(), 20*time.Millisecond) {
				t.Errorf("duration: got %v, want %v ± 20 ms", got.Duration(), src.Duration())
			}
			corr, _ := Correlate(resampledMono(t, src).Samples, ToMono(got).Samples, SampleRate, 0.05)
			if corr < 0.9 {
				t.Errorf("correlation with input: got %.3f, want >= 0.9", corr)
			}
		})
	}
}

func TestOggPagesHoldAboutOneSecond(t *testing.T) {
	src := loadWAV(t, "speech-16k.wav")
	_, file := encodeOgg(t, src)
	var granules []int64
	for off := 0; off+27 <= len(file); {
		granules = append(granules, int64(binary.LittleEndian.Uint64(file[off+6:])))
		n := int(file[off+26])
		size := 27 + n
		for _, l := range file[off+27 : off+27+n] {
			size += int(l)
		}
		off += size
	}
	// OpusHead, OpusTags, then ceil(5.8 s / 1 s) audio pages.
	if len(granules) != 8 {
		t.Errorf("pages: got %d (granules %v), want 8", len(granules), granules)
	}
	for i := 3; i < len(granules)-1; i++ {
		if d := granules[i] - granules[i-1]; d != SampleRate {
			t.Errorf("page %d: got %d samples, want %d", i, d, SampleRate)
		}
	}
}

func TestEncoderPreSkipMatchesLibopus(t *testing.T) {
	// libopus 1.x reports a VoIP lookahead of 6.5 ms at every rate: 2.5 ms
	// of analysis plus 4 ms of delay compensation.
	for _, rate := range []int{8000, 12000, 16000, 24000, 48000} {
		enc, err := newEncoderAt(rate, EncoderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := enc.PreSkip(); got != 312 {
			t.Errorf("pre-skip at %d Hz: got %d, want 312", rate, got)
		}
	}
}

func TestEncodePCMLength(t *testing.T) {
	for _, rate := range []int{8000, 16000, 44100, 48000} {
		for _, frames := range []int{1, rate / 50, rate/50 + 1, rate} {
			p := &PCM{Rate: rate, Channels: 1, Samples: sine(440, rate, frames, 0.3)}
			enc, err := EncodePCM(p, EncoderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := int64(math.Round(float64(frames) * SampleRate / float64(rate)))
			if enc.Samples != want {
				t.Errorf("%d Hz %d frames: got %d samples, want %d", rate, frames, enc.Samples, want)
			}
			if covered := int64(len(enc.Packets)) * FrameSamples; covered < enc.Samples+int64(enc.PreSkip) {
				t.Errorf("%d Hz %d frames: packets cover %d samples, want >= %d", rate, frames, covered, enc.Samples+int64(enc.PreSkip))
			}
		}
	}
}

func TestStreamingEncoderDecoder(t *testing.T) {
	enc, err := NewEncoder(EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	in := resampledMono(t, loadWAV(t, "speech-16k.wav")).Samples
	in = in[:len(in)/FrameSamples*FrameSamples]
	var out []float32

	pkt := make([]byte, 4000)
	buf := make([]float32, 5760)
	for i := 0; i < len(in); i += FrameSamples {
		n, err := enc.Encode(in[i:i+FrameSamples], pkt)
		if err != nil {
			t.Fatal(err)
		}
		if i == 100*FrameSamples { // conceal one lost packet
			m, err := dec.DecodePLC(buf[:FrameSamples])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, buf[:m]...)
			continue
		}
		m, err := dec.Decode(pkt[:n], buf)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, buf[:m]...)
	}

	if len(out) != len(in) {
		t.Fatalf("decoded samples: got %d, want %d", len(out), len(in))
	}
	corr, lag := Correlate(in, out, SampleRate, 0.02)
	if corr < 0.9 {
		t.Errorf("correlation: got %.3f, want >= 0.9", corr)
	}
	// The codec's phase response shifts the correlation peak by a few
	// samples from the pre-skip.
	if d := lag - int(enc.PreSkip()); d < -10 || d > 10 {
		t.Errorf("lag: got %d, want pre-skip %d ± 10", lag, enc.PreSkip())
	}

	if _, err := enc.Encode(in[:100], pkt); err == nil {
		t.Errorf("Encode of 100 samples: got nil error, want frame size error")
	}
}

// EncodePCM must pad exactly enough for the lookahead: the last packet must
// carry at least one sample of the message after pre-skip, or the relay
// rejects the upload for a trailing empty frame. Padding by 7 ms instead of
// the 6.5 ms lookahead broke lengths 625 to 648 past a frame boundary.
func TestEncodePCMLastFrameCarriesAudio(t *testing.T) {
	for _, rate := range []int{8000, 16000, 44100, 48000} {
		frame := rate / 50
		for offset := 0; offset < frame; offset += max(1, frame/160) {
			n := 2*frame + offset + 1
			enc, err := EncodePCM(&PCM{Rate: rate, Channels: 1, Samples: sine(440, rate, n, 0.3)}, EncoderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			covered := enc.Samples + int64(enc.PreSkip)
			total := int64(len(enc.Packets)) * FrameSamples
			if covered > total {
				t.Errorf("%d samples at %d Hz: %d packets cover %d samples, want at least %d", n, rate, len(enc.Packets), total, covered)
			}
			if covered <= total-FrameSamples {
				t.Errorf("%d samples at %d Hz: last of %d packets carries no audio (%d samples after pre-skip)", n, rate, len(enc.Packets), enc.Samples)
			}
		}
	}
}
