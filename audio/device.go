package audio

/*
#cgo pkg-config: alsa
#include <fcntl.h>
#include <unistd.h>
#include <alsa/asoundlib.h>

// vm_alsa_quiet drops a message of ALSA's library. ALSA prints one to
// stderr, over a terminal UI, for every underrun PortAudio recovers from.
static void vm_alsa_quiet(const char *file, int line, const char *function, int err, const char *fmt, ...) {
}

// vm_silence_alsa installs vm_alsa_quiet as ALSA's error handler.
static void vm_silence_alsa(void) {
	snd_lib_error_set_handler(vm_alsa_quiet);
}

// vm_mute_stderr points file descriptor 2 at /dev/null and returns a
// duplicate of the old descriptor 2, or -1 when it cannot.
static int vm_mute_stderr(void) {
	int saved = dup(2);
	if (saved < 0) {
		return -1;
	}
	int null = open("/dev/null", O_WRONLY);
	if (null < 0) {
		close(saved);
		return -1;
	}
	dup2(null, 2);
	close(null);
	return saved;
}

// vm_restore_stderr undoes vm_mute_stderr.
static void vm_restore_stderr(int saved) {
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	}
}
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/gordonklaus/portaudio"
)

// Fixes shown in device errors, so a user knows what to try next.
const (
	inputFix  = "connect a microphone, or check that PulseAudio or ALSA is running (vm devices lists what PortAudio sees)"
	outputFix = "connect a speaker or headphones, or check that PulseAudio or ALSA is running (vm devices lists what PortAudio sees)"
)

var (
	// ErrNoInputDevice reports that PortAudio found no device to capture from.
	ErrNoInputDevice = errors.New("no audio input device")

	// ErrNoOutputDevice reports that PortAudio found no device to play to.
	ErrNoOutputDevice = errors.New("no audio output device")

	// ErrDeviceNotFound reports a device name that matches no device.
	ErrDeviceNotFound = errors.New("audio device not found")

	// ErrClosed reports a Read or Write on a closed Capture or Playback.
	ErrClosed = errors.New("audio stream closed")
)

// initState is the outcome of the one Pa_Initialize call of the process.
var initState struct {
	once sync.Once
	err  error
}

// paMu serializes calls into PortAudio that open, stop or close streams and
// query devices, because PortAudio's front end is not thread-safe for them.
var paMu sync.Mutex

// InitDevices initializes PortAudio once per process and returns the result
// of that first call on every later call. It replaces ALSA's error handler
// with one that prints nothing, and points file descriptor 2 at /dev/null
// during Pa_Initialize, which hides the ALSA and JACK probe warnings printed
// on machines without a sound card. Call it before a terminal UI takes the
// screen.
//
// NOTE: anything other goroutines write to stderr while Pa_Initialize runs
// (tens of milliseconds) is lost too, as it is while a stream opens.
func InitDevices() error {
	initState.once.Do(func() {
		paMu.Lock()
		defer paMu.Unlock()
		C.vm_silence_alsa()
		var err error
		withStderrMuted(func() { err = portaudio.Initialize() })
		if err != nil {
			initState.err = fmt.Errorf("initialize PortAudio: %w: check that the ALSA and PortAudio libraries are installed (libportaudio2)", err)
		}
	})
	return initState.err
}

// withStderrMuted runs f with file descriptor 2 pointing at /dev/null.
// PortAudio 19.6 prints its internal errors there, with no way to redirect
// them, and a terminal UI must not show them.
func withStderrMuted(f func()) {
	saved := C.vm_mute_stderr()
	defer C.vm_restore_stderr(saved)
	f()
}

// DeviceInfo describes one audio device as PortAudio reports it.
type DeviceInfo struct {
	Name              string
	MaxInputChannels  int
	MaxOutputChannels int
	DefaultInput      bool    // DefaultInput is set for the default capture device.
	DefaultOutput     bool    // DefaultOutput is set for the default playback device.
	DefaultSampleRate float64 // DefaultSampleRate is in Hz. Streams run at 48 kHz regardless.
}

// Devices lists the audio devices of every PortAudio host API, initializing
// PortAudio first.
func Devices() ([]DeviceInfo, error) {
	if err := InitDevices(); err != nil {
		return nil, err
	}
	paMu.Lock()
	defer paMu.Unlock()
	devs, err := portaudio.Devices()
	if err != nil {
		return nil, fmt.Errorf("list audio devices: %w", err)
	}
	defIn, _ := portaudio.DefaultInputDevice()
	defOut, _ := portaudio.DefaultOutputDevice()
	out := make([]DeviceInfo, 0, len(devs))
	for _, d := range devs {
		out = append(out, DeviceInfo{
			Name:              d.Name,
			MaxInputChannels:  d.MaxInputChannels,
			MaxOutputChannels: d.MaxOutputChannels,
			DefaultInput:      defIn != nil && d.Index == defIn.Index,
			DefaultOutput:     defOut != nil && d.Index == defOut.Index,
			DefaultSampleRate: d.DefaultSampleRate,
		})
	}
	return out, nil
}

// findDevice returns the device named name with at least one channel in the
// requested direction, or the default device of that direction when name is
// empty. The caller holds paMu.
func findDevice(name string, input bool) (*portaudio.DeviceInfo, error) {
	missing, fix := ErrNoOutputDevice, outputFix
	if input {
		missing, fix = ErrNoInputDevice, inputFix
	}
	devs, err := portaudio.Devices()
	if err != nil {
		return nil, fmt.Errorf("list audio devices: %w", err)
	}
	usable := usableDevices(devs, input)
	if len(usable) == 0 {
		return nil, fmt.Errorf("%w: %s", missing, fix)
	}
	if name == "" {
		return defaultDevice(usable, input, missing, fix)
	}
	for _, d := range usable {
		if d.Name == name {
			return d, nil
		}
	}
	return nil, fmt.Errorf("%w: %q is not among the %s devices %s", ErrDeviceNotFound, name, direction(input), quoteNames(usable))
}

func usableDevices(devs []*portaudio.DeviceInfo, input bool) []*portaudio.DeviceInfo {
	var out []*portaudio.DeviceInfo
	for _, d := range devs {
		if (input && d.MaxInputChannels > 0) || (!input && d.MaxOutputChannels > 0) {
			out = append(out, d)
		}
	}
	return out
}

func defaultDevice(usable []*portaudio.DeviceInfo, input bool, missing error, fix string) (*portaudio.DeviceInfo, error) {
	get := portaudio.DefaultOutputDevice
	if input {
		get = portaudio.DefaultInputDevice
	}
	d, err := get()
	if err != nil || d == nil {
		return nil, fmt.Errorf("%w: no default %s device among %s: pick one by name, or %s", missing, direction(input), quoteNames(usable), fix)
	}
	return d, nil
}

func direction(input bool) string {
	if input {
		return "input"
	}
	return "output"
}

func quoteNames(devs []*portaudio.DeviceInfo) string {
	names := make([]string, len(devs))
	for i, d := range devs {
		names[i] = fmt.Sprintf("%q", d.Name)
	}
	return strings.Join(names, ", ")
}

// openStream opens and starts a blocking mono float32 stream at SampleRate on
// dev in one direction, with buf as its transfer buffer.
func openStream(dev *portaudio.DeviceInfo, input bool, buf *[]float32) (*portaudio.Stream, error) {
	p := portaudio.StreamParameters{SampleRate: SampleRate, FramesPerBuffer: framesPerBuffer}
	if input {
		p.Input = portaudio.StreamDeviceParameters{Device: dev, Channels: 1, Latency: streamLatency}
	} else {
		p.Output = portaudio.StreamDeviceParameters{Device: dev, Channels: 1, Latency: streamLatency}
	}
	var s *portaudio.Stream
	var err error
	withStderrMuted(func() { s, err = startStream(p, buf) })
	if err != nil {
		fix := outputFix
		if input {
			fix = inputFix
		}
		return nil, fmt.Errorf("open %s device %q at %d Hz mono: %w: %s", direction(input), dev.Name, SampleRate, err, fix)
	}
	return s, nil
}

// startStream opens and starts a blocking stream.
//
// NOTE: the portaudio binding (v0.0.0-20250206071425) converts its stream
// counter to an unsafe.Pointer in OpenStream. With -race, checkptr rejects
// that from the second stream of a process on and the process dies, so race
// tests that open two streams need
// -gcflags=github.com/gordonklaus/portaudio=-d=checkptr=0.
func startStream(p portaudio.StreamParameters, buf *[]float32) (*portaudio.Stream, error) {
	s, err := portaudio.OpenStream(p, buf)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		s.Close()
		return nil, fmt.Errorf("start stream: %w", err)
	}
	return s, nil
}
