package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/proto"
)

// vmProc is a long-running vm process started by a test.
type vmProc struct {
	cmd    *exec.Cmd
	stdout *syncWriter
	stderr *syncWriter
	done   chan struct{}
}

// startVM starts vm --home home with args and the extra environment env,
// and stops it with SIGINT when the test ends.
func startVM(t testing.TB, home string, env []string, args ...string) *vmProc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "vm"), append([]string{"--home", home}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	p := &vmProc{cmd: cmd, stdout: &syncWriter{}, stderr: &syncWriter{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start vm %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGINT and waits up to 10 s for the process to exit.
func (p *vmProc) stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("vm did not exit within 10 s of SIGINT\nstderr: %s", p.stderr.String())
	}
}

// waitStdout waits up to timeout until the process printed want.
func (p *vmProc) waitStdout(t testing.TB, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.stdout.String(), want) {
		select {
		case <-p.done:
			t.Fatalf("vm exited before printing %q\nstdout: %s\nstderr: %s", want, p.stdout.String(), p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("vm did not print %q within %v\nstdout: %s\nstderr: %s", want, timeout,
				p.stdout.String(), p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitEngineEvent returns the first event from e that match accepts,
// skipping others, waiting at most timeout.
func waitEngineEvent(t testing.TB, e *client.Engine, timeout time.Duration, what string,
	match func(client.EngineEvent) bool) client.EngineEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-e.Events():
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s within %v", what, timeout)
		}
	}
}

// sinkInputs returns how many PulseAudio playback streams go to sink.
func sinkInputs(t testing.TB, sink string) int {
	t.Helper()
	sinks, err := exec.Command("pactl", "list", "short", "sinks").Output()
	if err != nil {
		t.Fatalf("pactl list short sinks: %v", err)
	}
	index := ""
	for _, line := range strings.Split(string(sinks), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == sink {
			index = f[0]
		}
	}
	inputs, err := exec.Command("pactl", "list", "short", "sink-inputs").Output()
	if err != nil {
		t.Fatalf("pactl list short sink-inputs: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(inputs), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == index {
			n++
		}
	}
	return n
}

// waitSinkInput waits up to 10 s until a stream plays to sink.
func waitSinkInput(t testing.TB, sink string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for sinkInputs(t, sink) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing opened the speaker %s within 10 s", sink)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLiveTalkThroughAudioDevices runs one transmission through real
// devices: speech played into the virtual microphone is captured by an
// Engine through PortAudio, forwarded live by a relay process, played by
// vm listen through PortAudio into the virtual speaker and recorded
// there. The stored copy is then fetched with vm fetch.
func TestLiveTalkThroughAudioDevices(t *testing.T) {
	rig := requireAudioRig(t)
	// The engine in this process opens the rig's devices as its defaults.
	for _, kv := range rig.Env() {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	speech := loadSpeech(t, speechFile)
	dir := t.TempDir()
	speechPath := writeWAVFile(t, dir, "speech-48k.wav", speech.Samples)

	relay := startRelay(t, filepath.Join(dir, "relay"))
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")
	// A first message makes alice and bob peers, so alice's engine sees
	// bob come online; bob fetches it now so that only the live message
	// is new later.
	mustVM(t, alice, "send", writeWAVFile(t, dir, "hello.wav", speech.Samples[:audio.SampleRate/2]), "--to", "@bob")
	fetchFiles(t, bob, filepath.Join(dir, "inbox"))

	rec := startEarRecorder(t, rig)
	listen := startVM(t, bob, nil, "listen")
	waitSinkInput(t, rig.Speaker)

	mic := &tappedMic{}
	eng, err := client.NewEngine(t.Context(), client.EngineOptions{
		Paths: config.Paths{Home: alice}, Relay: relay.Addr, OpenCapture: mic.open,
		OpenPlayback: func(string) (audio.FrameSink, error) { return nil, audio.ErrNoOutputDevice },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	waitEngineEvent(t, eng, 20*time.Second, "presence of bob", func(ev client.EngineEvent) bool {
		return ev.Kind == client.EventPresence && ev.Handle == "bob" && ev.Online
	})

	conv := proto.DirectConversation("alice", "bob")
	talkFrom := rec.length()
	if err := eng.StartTalk(conv); err != nil {
		t.Fatalf("StartTalk: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "paplay", "-d", rig.Mouth, speechPath).CombinedOutput(); err != nil {
		t.Fatalf("paplay: %v: %s", err, out)
	}
	// paplay returns once the sink has played its stream; the margin
	// covers the capture buffer.
	time.Sleep(300 * time.Millisecond)
	if err := eng.StopTalk(); err != nil {
		t.Fatalf("StopTalk: %v", err)
	}
	stored := waitEngineEvent(t, eng, 20*time.Second, "stored message", func(ev client.EngineEvent) bool {
		return (ev.Kind == client.EventMessageStored && ev.Handle == "alice") || ev.Kind == client.EventTalkFailed
	})
	if stored.Kind == client.EventTalkFailed {
		t.Fatalf("talk failed: %v", stored.Err)
	}
	listen.waitStdout(t, "@alice", 20*time.Second)
	rec.waitSpeakerQuiet(t, talkFrom, time.Second, 20*time.Second)
	rec.stop()

	captured := mic.captured()
	played, mouth := rec.channels()
	played, mouth = played[talkFrom:], mouth[talkFrom:]
	checkLiveAudio(t, speech.Samples, captured, mouth, played)

	paths := fetchFiles(t, bob, filepath.Join(dir, "inbox"))
	if len(paths) != 1 || !strings.Contains(paths[0], stored.MessageID) {
		t.Fatalf("vm fetch printed %q, want one path with message id %s", paths, stored.MessageID)
	}
	checkStoredTalk(t, paths[0], speech.Samples, len(captured))
}

// checkLiveAudio compares the original speech with what the microphone
// got, what the engine captured and what the listener's speaker played.
func checkLiveAudio(t *testing.T, speech, captured, mouth, played []float32) {
	t.Helper()
	rate := audio.SampleRate
	if corr, lag := audio.Correlate(speech, mouth, rate, 30); corr < 0.95 {
		t.Errorf("the microphone got speech correlating %.3f (lag %d), want at least 0.95", corr, lag)
	}
	corr, lag := audio.Correlate(speech, captured, rate, 30)
	t.Logf("captured %v: correlation %.3f at lag %v", samplesDuration(len(captured)), corr, samplesDuration(lag))
	if corr < 0.95 {
		t.Errorf("the engine captured speech correlating %.3f, want at least 0.95", corr)
	}
	// The jitter buffer may insert or drop frames, so after a coarse
	// alignment each half second is aligned on its own.
	_, start := audio.Correlate(speech, played, rate, 30)
	from := max(start-rate/10, 0)
	segCorr := audio.SegmentCorrelation(speech, played[from:], rate, 0.5, 0.1)
	_, mouthAt := audio.Correlate(speech, mouth, rate, 30)
	t.Logf("speaker: segment correlation %.3f, mouth to ear %v", segCorr, samplesDuration(start-mouthAt))
	if segCorr < 0.8 {
		t.Errorf("got segment correlation %.3f of the speech with the speaker's recording, want at least 0.8", segCorr)
	}
}

// checkStoredTalk decodes the fetched message and checks that it lasts
// as long as the engine captured, within 20 ms, and contains the speech.
func checkStoredTalk(t *testing.T, path string, speech []float32, capturedSamples int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := audio.DecodeOggOpus(f, 64<<20)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	want := samplesDuration(capturedSamples)
	if d := got.Duration() - want; d > 20*time.Millisecond || d < -20*time.Millisecond {
		t.Errorf("stored message lasts %v, want %v (captured) within 20 ms", got.Duration(), want)
	}
	corr, lag := audio.Correlate(speech, audio.ToMono(got).Samples, audio.SampleRate, 30)
	t.Logf("stored %v: correlation %.3f at lag %v", got.Duration(), corr, samplesDuration(lag))
	if corr < 0.9 {
		t.Errorf("stored message correlates %.3f with the speech, want at least 0.9", corr)
	}
}

// samplesDuration converts a count of 48 kHz samples to a duration.
func samplesDuration(n int) time.Duration {
	return time.Duration(n) * time.Second / audio.SampleRate
}
