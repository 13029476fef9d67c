package audio

import (
	"testing"
)

// decodePackets decodes mono 48 kHz packets and drops the pre-skip.
func decodePackets(t *testing.T, packets [][]byte, preSkip uint16) []float32 {
	t.Helper()
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	buf := make([]float32, 5760)
	for _, pkt := range packets {
		n, err := dec.Decode(pkt, buf)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, buf[:n]...)
	}
	return out[preSkip:]
}

func TestEncodeParallelMatchesSerial(t *testing.T) {
	speech := resampledMono(t, loadWAV(t, "speech-16k.wav"))
	frames := padFrames(speech.Samples, SampleRate, 312)
	serial, preSkip, err := encodeSerial(frames, SampleRate, EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parallel, _, err := encodeParallel(frames, SampleRate, EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(parallel) != len(serial) {
		t.Fatalf("packets: got %d, want %d", len(parallel), len(serial))
	}

	split := quietestFrame(frames, len(frames)/3, 2*len(frames)/3)
	serialPCM := decodePackets(t, serial, preSkip)
	parallelPCM := decodePackets(t, parallel, preSkip)
	// Compare 200 ms of decoded audio starting 20 ms before the split.
	from, to := (split-1)*FrameSamples, (split+9)*FrameSamples
	ref := speech.Samples[from:to]
	serialCorr, _ := Correlate(ref, serialPCM[from:to], SampleRate, 0.002)
	parallelCorr, _ := Correlate(ref, parallelPCM[from:to], SampleRate, 0.002)
	t.Logf("split at frame %d of %d: correlation near split %.4f serial, %.4f parallel", split, len(frames), serialCorr, parallelCorr)
	if parallelCorr < serialCorr-0.02 {
		t.Errorf("correlation near split: got %.4f, want >= serial %.4f - 0.02", parallelCorr, serialCorr)
	}

	serialAll, _ := Correlate(speech.Samples, serialPCM, SampleRate, 0.002)
	parallelAll, _ := Correlate(speech.Samples, parallelPCM, SampleRate, 0.002)
	if parallelAll < serialAll-0.005 {
		t.Errorf("correlation overall: got %.4f, want >= serial %.4f - 0.005", parallelAll, serialAll)
	}
}
