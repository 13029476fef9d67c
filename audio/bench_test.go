package audio

import (
	"strconv"
	"testing"
)

// BenchmarkEncodePCM reports the encoding speed as a multiple of real time
// (x_realtime) for the 16 kHz speech file upsampled to 48 kHz and at 16 kHz.
func BenchmarkEncodePCM(b *testing.B) {
	speech := loadWAV(b, "speech-16k.wav")
	upsampled := resampledMono(b, speech)
	inputs := []struct {
		name string
		pcm  *PCM
	}{
		{"48k", upsampled},
		{"16k", speech},
	}
	for _, in := range inputs {
		for _, complexity := range []int{5, 10} {
			b.Run(in.name+"/complexity"+strconv.Itoa(complexity), func(b *testing.B) {
				// vm send encodes files without FEC; see EncoderOptions.NoFEC.
				opt := EncoderOptions{Complexity: complexity, NoFEC: true}
				for b.Loop() {
					if _, err := EncodePCM(in.pcm, opt); err != nil {
						b.Fatal(err)
					}
				}
				audioSeconds := in.pcm.Duration().Seconds() * float64(b.N)
				b.ReportMetric(audioSeconds/b.Elapsed().Seconds(), "x_realtime")
			})
		}
	}
}

// BenchmarkEncodePCMResampled measures the 44.1 kHz path, which includes
// the libsoxr resampler.
func BenchmarkEncodePCMResampled(b *testing.B) {
	speech := loadWAV(b, "speech-44k-stereo.wav")
	for b.Loop() {
		if _, err := EncodePCM(speech, EncoderOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(speech.Duration().Seconds()*float64(b.N)/b.Elapsed().Seconds(), "x_realtime")
}
