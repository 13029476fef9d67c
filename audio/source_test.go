package audio

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// countingReader counts the bytes read from r.
type countingReader struct {
	r    io.Reader
	read int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	return n, err
}

// wavHeaderOnly returns the header of a 16-bit PCM WAV file whose data
// chunk claims dataSize bytes, followed by extra bytes of samples.
func wavHeaderOnly(rate, channels int, dataSize uint32, extra int) []byte {
	return append(wavHeader(rate, channels, dataSize), make([]byte, extra)...)
}

func TestDecodeMonoRejectsDeclaredLength(t *testing.T) {
	tests := []struct {
		name     string
		rate     int
		channels int
		seconds  int
		limit    time.Duration
		want     string
	}{
		{"1h mono", 48000, 1, 3600, 5 * time.Minute, "audio lasts 1h0m0s, longer than the limit of 5m0s"},
		{"1h stereo", 48000, 2, 3600, 5 * time.Minute, "audio lasts 1h0m0s, longer than the limit of 5m0s"},
		{"6 min at 8 kHz", 8000, 1, 360, 5 * time.Minute, "audio lasts 6m0s, longer than the limit of 5m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := uint32(tt.rate * tt.channels * 2 * tt.seconds)
			// The file holds only the header and 1 MiB of samples, so a
			// decoder that reads on before checking fails with a
			// truncation error instead.
			r := &countingReader{r: bytes.NewReader(wavHeaderOnly(tt.rate, tt.channels, size, 1<<20))}
			src, err := OpenFile(r, 1<<30)
			if err != nil {
				t.Fatalf("OpenFile: %v", err)
			}
			if d, ok := src.Duration(); !ok || d != time.Duration(tt.seconds)*time.Second {
				t.Errorf("Duration: got %s, %v, want %ds, true", d, ok, tt.seconds)
			}
			_, err = src.DecodeMono(tt.limit)
			var tooLong *TooLongError
			if !errors.As(err, &tooLong) {
				t.Fatalf("DecodeMono: got %v, want a *TooLongError", err)
			}
			if err.Error() != tt.want {
				t.Errorf("DecodeMono: got %q, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("DecodeMono: got %v, want it to match ErrTooLarge", err)
			}
			if r.read > 64<<10 {
				t.Errorf("read %d bytes before rejecting, want at most 64 KiB", r.read)
			}
		})
	}
}

func TestDecodeMonoCountsFramesNotSamples(t *testing.T) {
	// Four minutes of 6-channel 96 kHz audio hold 138 million samples,
	// more than MaxDecodeFrames, but 23 million frames, fewer. The file
	// is cut after its header, so decoding ends in a truncation error
	// unless a limit rejects it first.
	size := uint32(96000 * 6 * 2 * 240)
	src, err := OpenFile(bytes.NewReader(wavHeaderOnly(96000, 6, size, 6*2*100)), 1<<30)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	_, err = src.DecodeMono(5 * time.Minute)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("DecodeMono: got %v, want ErrTruncated", err)
	}
	if errors.Is(err, ErrTooLarge) {
		t.Errorf("DecodeMono: got %v, want no ErrTooLarge", err)
	}
}

func TestDecodeMonoMixesChannels(t *testing.T) {
	// Three channels at 0.5, -0.25 and 0.25 average to 1/6.
	frames := 1000
	samples := make([]float32, 0, 3*frames)
	for range frames {
		samples = append(samples, 0.5, -0.25, 0.25)
	}
	file := buildWAV(wavSpec{tag: wavFloat, bits: 32}, &PCM{Rate: 8000, Channels: 3, Samples: samples})
	src, err := OpenFile(bytes.NewReader(file), 1<<20)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	got, err := src.DecodeMono(time.Second)
	if err != nil {
		t.Fatalf("DecodeMono: %v", err)
	}
	if got.Channels != 1 || got.Rate != 8000 {
		t.Errorf("format: got %d Hz %d ch, want 8000 Hz 1 ch", got.Rate, got.Channels)
	}
	if len(got.Samples) != frames {
		t.Fatalf("samples: got %d, want %d", len(got.Samples), frames)
	}
	for i, s := range got.Samples {
		if d := s - 1.0/6; d > 1e-6 || d < -1e-6 {
			t.Fatalf("sample %d: got %g, want %g", i, s, 1.0/6)
		}
	}
}

func TestDecodeMonoStreamingWAV(t *testing.T) {
	src := &PCM{Rate: 8000, Channels: 2, Samples: sine(440, 8000, 2*3*8000, 0.5)}
	file := buildWAV(wavSpec{tag: wavPCM, bits: 16, dataSize: u32(0xFFFFFFFF)}, src)
	tests := []struct {
		name   string
		limit  time.Duration
		frames int
		want   string
	}{
		{"under limit", 5 * time.Second, 3 * 8000, ""},
		{"over limit", 2 * time.Second, 0, "audio lasts longer than the limit of 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenFile(bytes.NewReader(file), 1<<20)
			if err != nil {
				t.Fatalf("OpenFile: %v", err)
			}
			if _, ok := s.Duration(); ok {
				t.Errorf("Duration: got declared, want none for a streaming WAV")
			}
			got, err := s.DecodeMono(tt.limit)
			if tt.want != "" {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("DecodeMono: got %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeMono: %v", err)
			}
			if got.Frames() != tt.frames || got.Channels != 1 {
				t.Errorf("got %d frames in %d channels, want %d in 1", got.Frames(), got.Channels, tt.frames)
			}
		})
	}
}

func TestDecodeMonoOggOpus(t *testing.T) {
	stereo := &PCM{Rate: SampleRate, Channels: 2, Samples: sine(440, SampleRate, 2*SampleRate, 0.5)}
	_, ogg := encodeOgg(t, stereo)
	src, err := OpenFile(bytes.NewReader(ogg), 1<<20)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	d, ok := src.Duration()
	if !ok || !within(d, time.Second, 20*time.Millisecond) {
		t.Errorf("Duration: got %s, %v, want about 1s, true", d, ok)
	}
	if _, err := src.DecodeMono(500 * time.Millisecond); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "longer than the limit of 500ms") {
		t.Errorf("DecodeMono(500ms): got %v, want the limit of 500ms", err)
	}
	got, err := src.DecodeMono(2 * time.Second)
	if err != nil {
		t.Fatalf("DecodeMono(2s): %v", err)
	}
	if got.Channels != 1 || !within(got.Duration(), time.Second, 20*time.Millisecond) {
		t.Errorf("got %d channels lasting %s, want 1 lasting about 1s", got.Channels, got.Duration())
	}
}

func TestErrorTextSaysItOnce(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"empty", nil, "empty audio file"},
		{"no samples", wavHeaderOnly(8000, 1, 0, 0), "WAV data chunk contains no complete sample frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeFile(bytes.NewReader(tt.input), 1<<20)
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("DecodeFile: got %v, want ErrTruncated", err)
			}
			if err.Error() != tt.want {
				t.Errorf("DecodeFile: got %q, want %q", err, tt.want)
			}
		})
	}
}
