package audio

import (
	"math"
	"strings"
	"testing"
)

// snrDB returns the signal-to-noise ratio of got against ref in dB.
func snrDB(ref, got []float32) float64 {
	var signal, noise float64
	for i := range min(len(ref), len(got)) {
		d := float64(got[i]) - float64(ref[i])
		signal += float64(ref[i]) * float64(ref[i])
		noise += d * d
	}
	return 10 * math.Log10(signal/noise)
}

func TestResampleSineSNR(t *testing.T) {
	tests := []struct {
		from, to int
		minSNR   float64
	}{
		{44100, 48000, 120},
		{22050, 48000, 120},
		{32000, 48000, 120},
		{48000, 44100, 120},
		{48000, 16000, 120},
	}
	for _, tt := range tests {
		in := &PCM{Rate: tt.from, Channels: 1, Samples: sine(1000, tt.from, tt.from, 0.5)}
		got, err := Resample(in, tt.to)
		if err != nil {
			t.Fatalf("Resample %d to %d: %v", tt.from, tt.to, err)
		}
		if len(got.Samples) != tt.to {
			t.Errorf("%d to %d: got %d samples, want %d", tt.from, tt.to, len(got.Samples), tt.to)
		}
		// The first and last 50 ms hold the filter's response to the
		// sine switching on and off.
		edge := tt.to / 20
		want := sine(1000, tt.to, tt.to, 0.5)
		snr := snrDB(want[edge:tt.to-edge], got.Samples[edge:tt.to-edge])
		t.Logf("%d Hz to %d Hz: SNR %.1f dB", tt.from, tt.to, snr)
		if snr < tt.minSNR {
			t.Errorf("%d to %d: got SNR %.1f dB, want >= %.0f dB", tt.from, tt.to, snr, tt.minSNR)
		}
	}
}

func TestResampleSpeechMatchesSox(t *testing.T) {
	for _, name := range []string{"speech-22k.wav", "speech-44k-stereo.wav"} {
		t.Run(name, func(t *testing.T) {
			src := loadWAV(t, name)
			got, err := Resample(src, SampleRate)
			if err != nil {
				t.Fatal(err)
			}
			want := soxDecode(t, "../testdata/"+name, "-r", "48000")
			if len(got.Samples) != len(want) {
				t.Errorf("samples: got %d, want %d", len(got.Samples), len(want))
			}
			corr, lag := Correlate(want, got.Samples, SampleRate, 0.01)
			if corr < 0.999 {
				t.Errorf("correlation with sox: got %.5f, want >= 0.999", corr)
			}
			if lag != 0 {
				t.Errorf("lag against sox: got %d samples, want 0", lag)
			}
		})
	}
}

func TestResampleErrors(t *testing.T) {
	tests := []struct {
		name string
		in   *PCM
		rate int
		text string
	}{
		{"zeroRate", &PCM{Rate: 0, Channels: 1}, 48000, "sample rate 0"},
		{"badLength", &PCM{Rate: 8000, Channels: 2, Samples: make([]float32, 3)}, 48000, "multiple of 2 channels"},
		{"badTarget", &PCM{Rate: 8000, Channels: 1, Samples: make([]float32, 8)}, -1, "output rate -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resample(tt.in, tt.rate)
			if err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error: got %v, want it to contain %q", err, tt.text)
			}
		})
	}
}
