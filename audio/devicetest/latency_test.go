package devicetest

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
)

// clickWriter plays silence and, on request, one frame that starts with a
// 1 ms burst, and reports when the write of that frame began.
type clickWriter struct {
	p       *audio.Playback
	request chan struct{}
	sent    chan time.Time
}

func (w *clickWriter) run(ctx context.Context) error {
	frame := make([]float32, audio.FrameSamples)
	for ctx.Err() == nil {
		clear(frame)
		click := false
		select {
		case <-w.request:
			click = true
			for i := range 48 {
				frame[i] = 0.8 * float32(math.Sin(2*math.Pi*float64(i)/8))
			}
		default:
		}
		start := time.Now()
		if err := w.p.Write(frame); err != nil {
			return err
		}
		if click {
			w.sent <- start
		}
	}
	return nil
}

// readClick reads frames until one holds a sample above 0.3, at most 2 s
// of them, and returns when that sample was captured.
func readClick(c *audio.Capture, frame []float32) (time.Time, bool, error) {
	for range 100 {
		if err := c.Read(frame); err != nil {
			return time.Time{}, false, err
		}
		now := time.Now()
		for i, v := range frame {
			if math.Abs(float64(v)) > 0.3 {
				after := time.Duration(len(frame)-i) * time.Second / audio.SampleRate
				return now.Add(-after), true, nil
			}
		}
	}
	return time.Time{}, false, nil
}

// BenchmarkDeviceLoopbackLatency measures the time from the start of a
// Playback.Write to the moment a Capture.Read returns that audio, through
// the virtual speaker's monitor: both device buffers and PulseAudio. It
// reports the median and the maximum over b.N clicks.
func BenchmarkDeviceLoopbackLatency(b *testing.B) {
	requireDevices(b)
	b.Setenv("PULSE_SOURCE", "vspeaker.monitor")
	p, err := audio.OpenPlayback("")
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	c, err := audio.OpenCapture("")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithCancel(context.Background())
	w := &clickWriter{p: p, request: make(chan struct{}, 1), sent: make(chan time.Time, 1)}
	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() { writeErr = w.run(ctx) })
	defer func() {
		cancel()
		wg.Wait()
		if writeErr != nil {
			b.Error(writeErr)
		}
	}()

	var lat []time.Duration
	frame := make([]float32, audio.FrameSamples)
	for b.Loop() {
		w.request <- struct{}{}
		heard, ok, err := readClick(c, frame)
		if err != nil {
			b.Fatal(err)
		}
		sent := <-w.sent
		if !ok {
			b.Fatal("click not captured within 2 s")
		}
		lat = append(lat, heard.Sub(sent))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
	b.ReportMetric(float64(p.Underflows()+c.Overflows()), "xruns")
}
