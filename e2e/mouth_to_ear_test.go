package e2e

import (
	"encoding/binary"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/proto"
)

// clickPeriod is the spacing of the clicks. It is longer than any delay
// the benchmark expects, so each recorded click is matched to its own.
// It is no multiple of the 20 ms frame or the 5 ms PortAudio buffer, so
// the clicks fall at different points of a frame.
const clickPeriod = 503 * time.Millisecond

// clickPeriodPCM returns one click period: a 3 ms chirp from 500 Hz to
// 4 kHz under a Hann window, then silence. A chirp has one sharp
// correlation peak, where a tone burst has one per period.
func clickPeriodPCM() []float32 {
	pcm := make([]float32, int(clickPeriod.Seconds()*audio.SampleRate))
	n := 3 * audio.SampleRate / 1000
	for i := range n {
		t := float64(i) / audio.SampleRate
		dur := float64(n) / audio.SampleRate
		f0, f1 := 500.0, 4000.0
		phase := 2 * math.Pi * (f0*t + (f1-f0)*t*t/(2*dur))
		window := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		pcm[i] = float32(0.8 * window * math.Sin(phase))
	}
	return pcm
}

// BenchmarkDeviceMouthToEar measures the delay from a click played into
// the microphone to the same click leaving the listener's speaker. A
// sender Engine captures from the rig's microphone through PortAudio, a
// relay process forwards its live talk, and a receiver Engine in this
// process plays it through PortAudio to the rig's speaker. Run it with a
// fixed count, one click per iteration:
//
//	go test -run '^$' -bench DeviceMouthToEar -benchtime 60x ./e2e
//
// The rig's microphone reads the right channel of one stereo null sink
// and its speaker writes the left channel. One parecord of that sink
// thus records the clicks as the microphone got them and as the speaker
// played them, on the sink's one sample clock. The delay of each click
// is the lag of the best cross-correlation between the two channels,
// exact to a sample (21 µs) apart from Opus changing the click's shape.
// It includes the capture and playback buffers of PortAudio and
// PulseAudio, encoding, the relay, the jitter buffer and decoding.
func BenchmarkDeviceMouthToEar(b *testing.B) {
	rig := requireAudioRig(b)
	for _, kv := range rig.Env() {
		name, value, _ := strings.Cut(kv, "=")
		b.Setenv(name, value)
	}
	dir := b.TempDir()
	relay := startRelay(b, filepath.Join(dir, "relay"))
	alice := newUser(b, relay, "alice")
	bob := newUser(b, relay, "bob")

	noSpeaker := func(string) (audio.FrameSink, error) { return nil, audio.ErrNoOutputDevice }
	noMic := func(string) (audio.FrameSource, error) { return nil, audio.ErrNoInputDevice }
	sender := startBenchEngine(b, client.EngineOptions{Paths: config.Paths{Home: alice}, Relay: relay.Addr,
		OpenPlayback: noSpeaker})
	receiver := startBenchEngine(b, client.EngineOptions{Paths: config.Paths{Home: bob}, Relay: relay.Addr,
		OpenCapture: noMic, AutoPlayLive: true})
	waitSinkInput(b, rig.Speaker)

	rec := startEarRecorder(b, rig)
	if err := sender.StartTalk(proto.DirectConversation("alice", "bob")); err != nil {
		b.Fatalf("StartTalk: %v", err)
	}
	waitEngineEvent(b, receiver, 20*time.Second, "live talk", func(ev client.EngineEvent) bool {
		return ev.Kind == client.EventTalkStarted
	})
	from := rec.length()

	play := exec.Command("paplay", "--raw", "-d", rig.Mouth, "--rate=48000", "--channels=1", "--format=float32le")
	stdin, err := play.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := play.Start(); err != nil {
		b.Fatalf("start paplay: %v", err)
	}
	period := floatBytes(clickPeriodPCM())
	for b.Loop() {
		// Once the pipe and paplay's buffer are full, each write waits
		// for a period to play. The clicks are timed from the recording,
		// not from here.
		if _, err := stdin.Write(period); err != nil {
			b.Fatalf("write to paplay: %v", err)
		}
	}
	b.StopTimer()
	stdin.Close()
	if err := waitProcess(play, 30*time.Second); err != nil {
		b.Fatalf("paplay: %v", err)
	}
	rec.waitSpeakerQuiet(b, from, time.Second, 20*time.Second)
	sender.StopTalk()
	rec.stop()

	played, mouth := rec.channels()
	delays, lost := clickDelays(mouth[from:], played[from:])
	if len(delays) == 0 {
		b.Fatalf("no click heard of %d played", lost)
	}
	slices.Sort(delays)
	pct := func(p float64) float64 {
		return float64(delays[int(p*float64(len(delays)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(lost), "lost-clicks")
}

// startBenchEngine starts an engine and waits until it is connected.
func startBenchEngine(b *testing.B, opt client.EngineOptions) *client.Engine {
	b.Helper()
	e, err := client.NewEngine(b.Context(), opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	waitEngineEvent(b, e, 20*time.Second, "connection", func(ev client.EngineEvent) bool {
		return ev.Kind == client.EventConnected
	})
	return e
}

// floatBytes encodes samples as float32 little endian.
func floatBytes(samples []float32) []byte {
	out := make([]byte, 4*len(samples))
	for i, v := range samples {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return out
}

// waitProcess waits for cmd to exit, killing it after timeout.
func waitProcess(cmd *exec.Cmd, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		return io.ErrNoProgress
	}
}

// clickDelays finds each click in mouth, where it is clean, and the lag
// of its copy in played within the following click period. A click whose
// best normalized correlation is below 0.3 counts as lost. Most clicks
// correlate above 0.9, but about one in 30 comes out distorted, by Opus
// at 24 kbit/s or by a concealed frame, and then correlates at 0.35 to
// 0.5 with its peak up to a few milliseconds off.
func clickDelays(mouth, played []float32) (delays []time.Duration, lost int) {
	period := int(clickPeriod.Seconds() * audio.SampleRate)
	pre := audio.SampleRate / 200 // 5 ms before the onset
	templateLen := audio.SampleRate / 100
	for at := 0; at < len(mouth); {
		onset := nextOnset(mouth, at)
		if onset < 0 {
			break
		}
		at = onset + period/2
		start := max(onset-pre, 0)
		end := start + period - pre
		if end > len(played) || start+templateLen > len(mouth) {
			lost++
			continue
		}
		corr, lag := audio.Correlate(mouth[start:start+templateLen], played[start:end], audio.SampleRate,
			float64(end-start)/audio.SampleRate)
		if corr < 0.3 || lag < 0 {
			lost++
			continue
		}
		delays = append(delays, samplesDuration(lag))
	}
	return delays, lost
}

// nextOnset returns the first index at or after from where x exceeds
// 0.05, or -1.
func nextOnset(x []float32, from int) int {
	for i := from; i < len(x); i++ {
		if math.Abs(float64(x[i])) > 0.05 {
			return i
		}
	}
	return -1
}
