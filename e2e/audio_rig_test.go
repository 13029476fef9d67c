package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
)

// virtualAudio is the outcome of starting the PulseAudio daemon with the
// virtual devices, once per test process.
var virtualAudio struct {
	once sync.Once
	err  error
}

// startVirtualAudio starts the daemon with the script named by
// VIRTUAL_AUDIO_SCRIPT and copies the environment it prints
// (PULSE_SERVER, PULSE_COOKIE) into this process. Then pactl, paplay,
// parecord, PortAudio's ALSA pulse plugin and the vm processes started
// later all reach that daemon and no other.
func startVirtualAudio() error {
	virtualAudio.once.Do(func() {
		virtualAudio.err = runVirtualAudioScript()
	})
	return virtualAudio.err
}

func runVirtualAudioScript() error {
	script := os.Getenv("VIRTUAL_AUDIO_SCRIPT")
	if script == "" {
		return fmt.Errorf("VIRTUAL_AUDIO_SCRIPT is not set (scripts/test.sh sets it when the script is there)")
	}
	for _, tool := range []string{"pactl", "paplay", "parecord"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not on PATH", tool)
		}
	}

	var stderr bytes.Buffer
	cmd := exec.Command("bash", script, "start")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s start: %w: %s", script, err, strings.TrimSpace(stderr.String()))
	}

	set := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if !ok {
			continue
		}
		if err := os.Setenv(name, strings.Trim(value, `"'`)); err != nil {
			return err
		}
		set++
	}
	if set == 0 {
		return fmt.Errorf("%s start printed no environment", script)
	}
	return nil
}

// audioRig is a set of private devices in the virtual PulseAudio daemon,
// so that tests running at the same time, in this package or in
// audio/devicetest, never hear each other. One stereo null sink, the ear,
// records both ends of a call on one sample clock:
//
//   - Mouth is a sink whose audio lands on the ear's right channel; a
//     test plays speech into it with paplay.
//   - Mic is a source that reads the ear's right channel, so the client
//     captures exactly what was played into Mouth.
//   - Speaker is a sink whose audio lands on the ear's left channel; the
//     client plays to it.
//
// Recording Ear's monitor in stereo then gives what the microphone got
// (right) and what the speaker played (left) with a common time base.
type audioRig struct {
	Mouth, Mic, Speaker, Ear string
}

// newAudioRig starts the virtual devices and loads a private rig, which
// is unloaded when the test ends. It returns an error, for the caller to
// skip on, when the virtual devices are unavailable.
func newAudioRig(t testing.TB) (*audioRig, error) {
	t.Helper()
	if err := startVirtualAudio(); err != nil {
		return nil, err
	}
	prefix := "vme2e_" + randomHex(4)
	r := &audioRig{Ear: prefix + "_ear", Mouth: prefix + "_mouth", Mic: prefix + "_mic", Speaker: prefix + "_speaker"}
	modules := [][]string{
		{"module-null-sink", "sink_name=" + r.Ear, "format=s16le", "rate=48000", "channels=2",
			"channel_map=front-left,front-right", "norewinds=1"},
		{"module-remap-sink", "sink_name=" + r.Speaker, "master=" + r.Ear, "channels=1", "channel_map=mono",
			"master_channel_map=front-left", "remix=no"},
		{"module-remap-sink", "sink_name=" + r.Mouth, "master=" + r.Ear, "channels=1", "channel_map=mono",
			"master_channel_map=front-right", "remix=no"},
		{"module-remap-source", "source_name=" + r.Mic, "master=" + r.Ear + ".monitor", "channels=1",
			"channel_map=mono", "master_channel_map=front-right", "remix=no"},
	}
	for _, m := range modules {
		out, err := exec.Command("pactl", append([]string{"load-module"}, m...)...).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("pactl load-module %s: %w: %s", m[0], err, bytes.TrimSpace(out))
		}
		index := strings.TrimSpace(string(out))
		// Cleanups run last in first out, so the remaps go before the ear.
		t.Cleanup(func() { exec.Command("pactl", "unload-module", index).Run() })
	}
	return r, nil
}

// requireAudioRig returns a rig or skips the test.
func requireAudioRig(t testing.TB) *audioRig {
	t.Helper()
	r, err := newAudioRig(t)
	if err != nil {
		t.Skipf("virtual audio devices unavailable: %v", err)
	}
	return r
}

// Env returns the variables that make the rig's Mic and Speaker the
// default input and output of a PulseAudio client, PortAudio included.
func (r *audioRig) Env() []string {
	return []string{"PULSE_SOURCE=" + r.Mic, "PULSE_SINK=" + r.Speaker}
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// earRecorder records the rig's ear in stereo with parecord.
type earRecorder struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu          sync.Mutex // guards the fields below
	left, right []float32  // speaker and mouth channels
	readErr     error
}

// startEarRecorder starts recording the rig's ear at 48 kHz and returns
// once audio arrives, which shows the recording stream is connected.
func startEarRecorder(t testing.TB, r *audioRig) *earRecorder {
	t.Helper()
	cmd := exec.Command("parecord", "--raw", "-d", r.Ear+".monitor", "--rate=48000", "--channels=2",
		"--format=float32le", "--latency-msec=20")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncWriter
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start parecord: %v", err)
	}
	rec := &earRecorder{cmd: cmd, done: make(chan struct{})}
	go rec.read(stdout)
	t.Cleanup(rec.stop)
	deadline := time.Now().Add(10 * time.Second)
	for rec.length() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("parecord recorded nothing within 10 s: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return rec
}

// read splits parecord's interleaved float32 output into the channels.
func (rec *earRecorder) read(r io.Reader) {
	defer close(rec.done)
	br := bufio.NewReaderSize(r, 1<<16)
	var pair [8]byte
	for {
		if _, err := io.ReadFull(br, pair[:]); err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				rec.mu.Lock()
				rec.readErr = err
				rec.mu.Unlock()
			}
			return
		}
		l := math.Float32frombits(binary.LittleEndian.Uint32(pair[:4]))
		rt := math.Float32frombits(binary.LittleEndian.Uint32(pair[4:]))
		rec.mu.Lock()
		rec.left = append(rec.left, l)
		rec.right = append(rec.right, rt)
		rec.mu.Unlock()
	}
}

func (rec *earRecorder) length() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.left)
}

// channels returns copies of the speaker (left) and mouth (right)
// channels recorded so far.
func (rec *earRecorder) channels() (speaker, mouth []float32) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]float32(nil), rec.left...), append([]float32(nil), rec.right...)
}

// stop ends parecord with SIGINT and waits for it, at most 5 s.
func (rec *earRecorder) stop() {
	select {
	case <-rec.done:
		return
	default:
	}
	rec.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-rec.done:
	case <-time.After(5 * time.Second):
		rec.cmd.Process.Kill()
		<-rec.done
	}
	rec.cmd.Wait()
}

// waitSpeakerQuiet waits until the speaker channel has carried sound
// since sample from and then been silent for quiet, at most for timeout.
func (rec *earRecorder) waitSpeakerQuiet(t testing.TB, from int, quiet, timeout time.Duration) {
	t.Helper()
	need := int(quiet.Seconds() * audio.SampleRate)
	deadline := time.Now().Add(timeout)
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		rec.mu.Lock()
		last := lastLoud(rec.left, from)
		n := len(rec.left)
		rec.mu.Unlock()
		if last >= 0 && n-last >= need {
			return
		}
	}
	t.Fatalf("the speaker played nothing, or did not go quiet for %v, within %v", quiet, timeout)
}

// lastLoud returns the index of the last sample at or after from whose
// magnitude exceeds -50 dBFS, or -1.
func lastLoud(x []float32, from int) int {
	for i := len(x) - 1; i >= from; i-- {
		if math.Abs(float64(x[i])) > 0.003 {
			return i
		}
	}
	return -1
}

// writeWAVFile writes 48 kHz mono samples as a WAV file in dir.
func writeWAVFile(t testing.TB, dir, name string, samples []float32) string {
	t.Helper()
	var buf bytes.Buffer
	if err := audio.EncodeWAV(&buf, &audio.PCM{Rate: audio.SampleRate, Channels: 1, Samples: samples}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// captureTap wraps a microphone and keeps every frame the engine read.
type captureTap struct {
	src audio.FrameSource

	mu  *sync.Mutex
	pcm *[]float32
}

func (c captureTap) Read(frame []float32) error {
	if err := c.src.Read(frame); err != nil {
		return err
	}
	c.mu.Lock()
	*c.pcm = append(*c.pcm, frame...)
	c.mu.Unlock()
	return nil
}

func (c captureTap) Close() error { return c.src.Close() }

// tappedMic opens PortAudio inputs and records what the engine reads
// from each.
type tappedMic struct {
	mu    sync.Mutex
	opens []*[]float32
}

// open is an EngineOptions.OpenCapture.
func (m *tappedMic) open(name string) (audio.FrameSource, error) {
	c, err := audio.OpenCapture(name)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pcm := new([]float32)
	m.opens = append(m.opens, pcm)
	return captureTap{src: c, mu: &m.mu, pcm: pcm}, nil
}

// captured returns the frames of the open that read the most. The engine
// opens the microphone once without reading, to probe it, so that is the
// transmission.
func (m *tappedMic) captured() []float32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var longest []float32
	for _, pcm := range m.opens {
		if len(*pcm) > len(longest) {
			longest = *pcm
		}
	}
	return append([]float32(nil), longest...)
}
