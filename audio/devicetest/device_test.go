package devicetest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
)

// speech48k returns the speech sample as 48 kHz mono.
func speech48k(t testing.TB) []float32 {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "speech-16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := audio.DecodeWAV(f, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	p, err = audio.Resample(audio.ToMono(p), audio.SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	return p.Samples
}

// writeWAV writes 48 kHz mono samples to a WAV file in a per-test directory.
func writeWAV(t testing.TB, samples []float32) string {
	t.Helper()
	var buf bytes.Buffer
	if err := audio.EncodeWAV(&buf, &audio.PCM{Rate: audio.SampleRate, Channels: 1, Samples: samples}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "speech.wav")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readWAV(t testing.TB, path string) []float32 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := audio.DecodeWAV(f, 64<<20)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return audio.ToMono(p).Samples
}

// requireTool skips the test when a command-line tool is missing.
func requireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not on PATH", name)
	}
}

// streamCount returns how many PulseAudio streams of a kind
// ("source-outputs" or "sink-inputs") exist.
func streamCount(t testing.TB, kind string) int {
	t.Helper()
	out, err := exec.Command("pactl", "list", "short", kind).Output()
	if err != nil {
		t.Fatalf("pactl list short %s: %v", kind, err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n
}

// waitForStream polls PulseAudio, for at most 5 s, until more than before
// streams of kind exist: a recorder started with exec is then connected.
func waitForStream(t testing.TB, kind string, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for streamCount(t, kind) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("no new PulseAudio %s within 5 s", kind)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCaptureHearsMicrophone(t *testing.T) {
	requireDevices(t)
	requireTool(t, "paplay")
	speech := speech48k(t)
	path := writeWAV(t, speech)

	c, err := audio.OpenCapture("")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	play := exec.Command("paplay", "-d", "vmic", path)
	if err := play.Start(); err != nil {
		t.Fatal(err)
	}
	defer play.Wait()

	// Read the speech and 2 s more, for paplay's start-up.
	frames := len(speech)/audio.FrameSamples + 100
	rec := make([]float32, 0, frames*audio.FrameSamples)
	frame := make([]float32, audio.FrameSamples)
	for range frames {
		if err := c.Read(frame); err != nil {
			t.Fatal(err)
		}
		rec = append(rec, frame...)
	}

	corr, lag := audio.Correlate(speech, rec, audio.SampleRate, 3)
	t.Logf("correlation %.3f at lag %v, %d overflows", corr, time.Duration(lag)*time.Second/audio.SampleRate, c.Overflows())
	if corr < 0.9 {
		t.Errorf("got correlation %.3f between the microphone input and the capture, want at least 0.9", corr)
	}
}

func TestPlaybackReachesSpeaker(t *testing.T) {
	requireDevices(t)
	requireTool(t, "parecord")
	speech := speech48k(t)
	out := filepath.Join(t.TempDir(), "heard.wav")

	before := streamCount(t, "source-outputs")
	rec := exec.Command("parecord", "-d", "vspeaker.monitor", "--rate=48000", "--channels=1",
		"--format=float32le", "--file-format=wav", out)
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	waitForStream(t, "source-outputs", before)

	p, err := audio.OpenPlayback("")
	if err != nil {
		rec.Process.Kill()
		rec.Wait()
		t.Fatal(err)
	}
	playAll(t, p, speech)
	underflows := p.Underflows()
	if err := p.Close(); err != nil {
		t.Error(err)
	}
	if err := rec.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	rec.Wait()

	heard := readWAV(t, out)
	corr, lag := audio.Correlate(speech, heard, audio.SampleRate, 3)
	t.Logf("correlation %.3f at lag %v, %d underflows", corr, time.Duration(lag)*time.Second/audio.SampleRate, underflows)
	if corr < 0.9 {
		t.Errorf("got correlation %.3f between the played and the recorded speech, want at least 0.9", corr)
	}
}

// playAll writes samples frame by frame, the last frame padded with silence.
func playAll(t testing.TB, p *audio.Playback, samples []float32) {
	t.Helper()
	frame := make([]float32, audio.FrameSamples)
	for start := 0; start < len(samples); start += audio.FrameSamples {
		clear(frame)
		copy(frame, samples[start:])
		if err := p.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDevicesListed(t *testing.T) {
	requireDevices(t)
	devs, err := audio.Devices()
	if err != nil {
		t.Fatal(err)
	}
	var inputs, outputs, defIn, defOut int
	for _, d := range devs {
		t.Logf("%q: %d in, %d out, default rate %.0f Hz", d.Name, d.MaxInputChannels, d.MaxOutputChannels, d.DefaultSampleRate)
		if d.MaxInputChannels > 0 {
			inputs++
		}
		if d.MaxOutputChannels > 0 {
			outputs++
		}
		if d.DefaultInput {
			defIn++
		}
		if d.DefaultOutput {
			defOut++
		}
	}
	if inputs == 0 {
		t.Error("got no input devices, want at least one")
	}
	if outputs == 0 {
		t.Error("got no output devices, want at least one")
	}
	if defIn != 1 {
		t.Errorf("got %d default input devices, want 1", defIn)
	}
	if defOut != 1 {
		t.Errorf("got %d default output devices, want 1", defOut)
	}
}

func TestOpenUnknownDevice(t *testing.T) {
	requireDevices(t)
	tests := []struct {
		name string
		open func(string) error
	}{
		{"capture", openCapture},
		{"playback", openPlayback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.open("no such device")
			if !errors.Is(err, audio.ErrDeviceNotFound) {
				t.Fatalf("got error %v, want ErrDeviceNotFound", err)
			}
			// The message lists the devices there are, to pick from.
			if msg := err.Error(); !strings.Contains(msg, `"default"`) || !strings.Contains(msg, `"no such device"`) {
				t.Errorf("got message %q, want the unknown name and the device \"default\" in it", msg)
			}
		})
	}
}

func TestOpenWithoutSoundServer(t *testing.T) {
	requireDevices(t)
	t.Setenv("PULSE_SERVER", "unix:"+filepath.Join(t.TempDir(), "absent"))
	if c, err := audio.OpenCapture(""); err == nil {
		c.Close()
		t.Error("OpenCapture with no sound server: got no error, want one")
	} else {
		t.Logf("capture: %v", err)
	}
	if p, err := audio.OpenPlayback(""); err == nil {
		p.Close()
		t.Error("OpenPlayback with no sound server: got no error, want one")
	} else {
		t.Logf("playback: %v", err)
	}
}

// openCapture opens and closes the capture device called name.
func openCapture(name string) error {
	c, err := audio.OpenCapture(name)
	if err != nil {
		return err
	}
	return c.Close()
}

// openPlayback opens and closes the playback device called name.
func openPlayback(name string) error {
	p, err := audio.OpenPlayback(name)
	if err != nil {
		return err
	}
	return p.Close()
}
