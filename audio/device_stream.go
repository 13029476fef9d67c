package audio

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gordonklaus/portaudio"
)

// Buffer sizes of capture and playback streams: framesPerBuffer samples per
// PortAudio buffer (5 ms, four per 20 ms frame) and a suggested device
// latency of one frame.
//
// NOTE: chosen on the virtual PulseAudio devices only (PortAudio 19.6
// through ALSA's pulse plugin, on a shared 2-core VM). There, 240 samples
// with 20 ms latency ran without underruns in three 3-second runs. The
// devices' own low-latency default (8.7 ms) underran with buffers of 240
// and 480 samples, and 960-sample buffers doubled the latency.
const (
	framesPerBuffer = FrameSamples / 4
	streamLatency   = 20 * time.Millisecond
)

// playbackPadding is the silence Playback.Close writes before it stops the
// stream, because PortAudio 19.6 on ALSA drops about the last 50 ms of audio
// when a stream stops right after a write.
const playbackPadding = 5 * FrameSamples // 100 ms

// FrameSource is a source of 20 ms mono frames at SampleRate, such as a
// Capture. Tests and user interfaces can supply their own.
type FrameSource interface {
	Read(frame []float32) error
	Close() error
}

// FrameSink takes 20 ms mono frames at SampleRate, such as a Playback.
type FrameSink interface {
	Write(frame []float32) error
	Close() error
}

// Capture is an open input stream at SampleRate, mono, float32.
type Capture struct {
	name      string
	overflows atomic.Uint64

	mu     sync.Mutex // mu guards stream and buf and serializes Read with Close.
	stream *portaudio.Stream
	buf    []float32
}

// OpenCapture opens and starts the input device called name, or the default
// input device when name is "". An unknown name yields an error wrapping
// ErrDeviceNotFound that lists the available input devices. A machine with
// no input device yields one wrapping ErrNoInputDevice.
func OpenCapture(name string) (*Capture, error) {
	if err := InitDevices(); err != nil {
		return nil, err
	}
	paMu.Lock()
	defer paMu.Unlock()
	dev, err := findDevice(name, true)
	if err != nil {
		return nil, err
	}
	c := &Capture{name: dev.Name, buf: make([]float32, FrameSamples)}
	c.stream, err = openStream(dev, true, &c.buf)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Name returns the PortAudio name of the device.
func (c *Capture) Name() string { return c.name }

// Overflows returns how many reads found that the device had dropped input
// because the caller read too slowly.
func (c *Capture) Overflows() uint64 { return c.overflows.Load() }

// Read blocks until one 20 ms frame (FrameSamples samples) is captured and
// copies it into frame. An input overflow is counted in Overflows, not
// returned. After Close, Read returns ErrClosed.
func (c *Capture) Read(frame []float32) error {
	if len(frame) != FrameSamples {
		return fmt.Errorf("read capture frame: got a buffer of %d samples, want %d", len(frame), FrameSamples)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return ErrClosed
	}
	err := c.stream.Read()
	if errors.Is(err, portaudio.InputOverflowed) {
		c.overflows.Add(1)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("read from input device %q: %w", c.name, err)
	}
	copy(frame, c.buf)
	return nil
}

// Close stops and closes the stream. It waits for a Read in progress, which
// returns within one frame, and is safe to call more than once.
func (c *Capture) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return nil
	}
	s := c.stream
	c.stream = nil
	return closeStream(s, c.name)
}

// Playback is an open output stream at SampleRate, mono, float32.
type Playback struct {
	name       string
	underflows atomic.Uint64

	mu     sync.Mutex // mu guards stream and buf and serializes Write with Close.
	stream *portaudio.Stream
	buf    []float32
}

// OpenPlayback opens and starts the output device called name, or the
// default output device when name is "". Errors wrap ErrDeviceNotFound or
// ErrNoOutputDevice as for OpenCapture.
func OpenPlayback(name string) (*Playback, error) {
	if err := InitDevices(); err != nil {
		return nil, err
	}
	paMu.Lock()
	defer paMu.Unlock()
	dev, err := findDevice(name, false)
	if err != nil {
		return nil, err
	}
	p := &Playback{name: dev.Name, buf: make([]float32, FrameSamples)}
	p.stream, err = openStream(dev, false, &p.buf)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Name returns the PortAudio name of the device.
func (p *Playback) Name() string { return p.name }

// Underflows returns how many writes found that the device had run out of
// audio because the caller wrote too slowly.
func (p *Playback) Underflows() uint64 { return p.underflows.Load() }

// Write queues one 20 ms frame (FrameSamples samples) for playback. It blocks
// while the device buffer is full, at most about one frame once playback
// runs. An output underflow is counted in Underflows, not returned. After
// Close, Write returns ErrClosed.
func (p *Playback) Write(frame []float32) error {
	if len(frame) != FrameSamples {
		return fmt.Errorf("write playback frame: got %d samples, want %d", len(frame), FrameSamples)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stream == nil {
		return ErrClosed
	}
	copy(p.buf, frame)
	return p.writeLocked()
}

func (p *Playback) writeLocked() error {
	err := p.stream.Write()
	if errors.Is(err, portaudio.OutputUnderflowed) {
		p.underflows.Add(1)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("write to output device %q: %w", p.name, err)
	}
	return nil
}

// Close writes 100 ms of silence so that the end of the last frame is heard,
// waits for the device to play what is queued, then closes the stream. It is
// safe to call more than once.
func (p *Playback) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stream == nil {
		return nil
	}
	clear(p.buf)
	var padErr error
	for range playbackPadding / FrameSamples {
		if padErr = p.writeLocked(); padErr != nil {
			break
		}
	}
	s := p.stream
	p.stream = nil
	return errors.Join(padErr, closeStream(s, p.name))
}

// closeStream stops s, which plays out queued output, and closes it.
func closeStream(s *portaudio.Stream, name string) error {
	paMu.Lock()
	defer paMu.Unlock()
	stopErr := s.Stop()
	if stopErr != nil {
		stopErr = fmt.Errorf("stop audio device %q: %w", name, stopErr)
	}
	closeErr := s.Close()
	if closeErr != nil {
		closeErr = fmt.Errorf("close audio device %q: %w", name, closeErr)
	}
	return errors.Join(stopErr, closeErr)
}
