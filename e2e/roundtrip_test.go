package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
)

const speechFile = "../testdata/speech-16k.wav"

// loadSpeech returns the test speech as 48 kHz mono.
func loadSpeech(t testing.TB, path string) *audio.PCM {
	t.Helper()
	f, err := os.Open(path)
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
	return p
}

// checkSpeech decodes a fetched Ogg Opus file and compares it with the
// original speech: same length within one frame, correlation of at least
// 0.9 after alignment.
func checkSpeech(t *testing.T, path string, want *audio.PCM) {
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
	if d := got.Duration() - want.Duration(); d > 20*time.Millisecond || d < -20*time.Millisecond {
		t.Errorf("%s lasts %v, want %v within 20 ms", filepath.Base(path), got.Duration(), want.Duration())
	}
	corr, lag := audio.Correlate(want.Samples, audio.ToMono(got).Samples, audio.SampleRate, 0.1)
	if corr < 0.9 {
		t.Errorf("%s correlates %.3f with the original (lag %d samples), want at least 0.9", filepath.Base(path), corr, lag)
	}
	checkWithTools(t, path, want.Duration())
}

// checkWithTools has ffprobe and opusinfo, where installed, read the file.
func checkWithTools(t *testing.T, path string, want time.Duration) {
	t.Helper()
	if _, err := exec.LookPath("opusinfo"); err == nil {
		if out, err := exec.Command("opusinfo", path).CombinedOutput(); err != nil {
			t.Errorf("opusinfo rejects %s: %v\n%s", path, err, out)
		}
	}
	if _, err := exec.LookPath("ffprobe"); err != nil {
		return
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration,format_name",
		"-of", "default=noprint_wrappers=1", path).Output()
	if err != nil {
		t.Fatalf("ffprobe rejects %s: %v", path, err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		fields[k] = v
	}
	if fields["format_name"] != "ogg" {
		t.Errorf("ffprobe format %q, want ogg", fields["format_name"])
	}
	secs, err := strconv.ParseFloat(fields["duration"], 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", fields["duration"], err)
	}
	if d := time.Duration(secs*float64(time.Second)) - want; d > 20*time.Millisecond || d < -20*time.Millisecond {
		t.Errorf("ffprobe says %s lasts %.3f s, want %v within 20 ms", filepath.Base(path), secs, want)
	}
}

func TestSendFetchDirect(t *testing.T) {
	relay := startRelay(t, t.TempDir())
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")

	id := strings.TrimSpace(mustVM(t, alice, "send", speechFile, "--to", "@bob"))
	if len(id) != 26 {
		t.Fatalf("vm send printed %q, want a 26-character message id", id)
	}
	out := t.TempDir()
	files := fetchFiles(t, bob, out)
	if len(files) != 1 {
		t.Fatalf("bob fetched %v, want one file", files)
	}
	if !strings.Contains(files[0], id) {
		t.Errorf("fetched file %s does not name message %s", files[0], id)
	}
	checkSpeech(t, files[0], loadSpeech(t, speechFile))

	if again := fetchFiles(t, bob, out); len(again) != 0 {
		t.Errorf("second fetch wrote %v, want nothing new", again)
	}
}

func TestSendFetchResampled(t *testing.T) {
	relay := startRelay(t, t.TempDir())
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")

	for _, file := range []string{"../testdata/speech-44k-stereo.wav", "../testdata/speech-22k.wav"} {
		mustVM(t, alice, "send", file, "--to", "@bob")
		files := fetchFiles(t, bob, t.TempDir())
		if len(files) != 1 {
			t.Fatalf("bob fetched %v after %s, want one file", files, file)
		}
		checkSpeech(t, files[0], loadSpeech(t, file))
	}
}

func TestSendFetchChannel(t *testing.T) {
	relay := startRelay(t, t.TempDir())
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")
	carol := newUser(t, relay, "carol")
	mustVM(t, alice, "channel", "create", "ops")
	mustVM(t, bob, "channel", "join", "ops")
	mustVM(t, carol, "channel", "join", "ops")

	members := mustVM(t, alice, "channel", "members", "ops")
	for _, h := range []string{"alice", "bob", "carol"} {
		if !strings.Contains(members, h) {
			t.Errorf("members of #ops %q lack %s", members, h)
		}
	}

	mustVM(t, alice, "send", speechFile, "--to", "#ops")
	want := loadSpeech(t, speechFile)
	for name, home := range map[string]string{"bob": bob, "carol": carol} {
		files := fetchFiles(t, home, t.TempDir())
		if len(files) != 1 {
			t.Fatalf("%s fetched %v, want one file", name, files)
		}
		checkSpeech(t, files[0], want)
	}
}

func TestOfflineDeliveryAndRestart(t *testing.T) {
	data := t.TempDir()
	relay := startRelay(t, data)
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")
	id := strings.TrimSpace(mustVM(t, alice, "send", speechFile, "--to", "@bob"))

	relay.Stop(t)
	relay = startRelayOn(t, data, relay.Addr)

	files := fetchFiles(t, bob, t.TempDir())
	if len(files) != 1 || !strings.Contains(files[0], id) {
		t.Fatalf("bob fetched %v after restart, want message %s", files, id)
	}
	checkSpeech(t, files[0], loadSpeech(t, speechFile))
}

func TestWAVOutput(t *testing.T) {
	relay := startRelay(t, t.TempDir())
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")
	mustVM(t, alice, "send", speechFile, "--to", "@bob")
	files := fetchFiles(t, bob, t.TempDir(), "--format", "wav")
	if len(files) != 1 || !strings.HasSuffix(files[0], ".wav") {
		t.Fatalf("bob fetched %v, want one .wav file", files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := audio.DecodeWAV(f, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := loadSpeech(t, speechFile)
	if d := got.Duration() - want.Duration(); d > 20*time.Millisecond || d < -20*time.Millisecond {
		t.Errorf("WAV lasts %v, want %v within 20 ms", got.Duration(), want.Duration())
	}
}
