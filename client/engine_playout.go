package client

import (
	"context"
	"sync"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/proto"
)

// source is something the playout loop plays: an incoming transmission
// or a stored message.
type source interface {
	// fill writes the next 20 ms into out and reports whether it did;
	// done reports that the source has nothing more to play.
	fill(now time.Time, out []float32) (ok, done bool)
	// finished is called once after the loop has removed the source.
	finished()
}

// playout mixes the active sources into the speaker, one 20 ms frame per
// iteration. The speaker's blocking Write paces the loop.
type playout struct {
	e    *Engine
	wake chan struct{}

	mu      sync.Mutex // guards sources, sink and failed
	sources []source
	sink    audio.FrameSink
	failed  bool // the speaker could not be opened
}

func newPlayout(e *Engine) *playout {
	return &playout{e: e, wake: make(chan struct{}, 1)}
}

// add starts playing src. It returns false when there is no speaker.
//
// A source added while the speaker is still opening waits and plays once
// it is open: the relay announces a transmission in progress as soon as
// the engine subscribes, which can be before PortAudio has opened the
// device.
func (p *playout) add(src source) bool {
	p.mu.Lock()
	if p.failed {
		p.mu.Unlock()
		return false
	}
	p.sources = append(p.sources, src)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// remove stops playing src without calling its finished method.
func (p *playout) remove(src source) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range p.sources {
		if s == src {
			p.sources = append(p.sources[:i], p.sources[i+1:]...)
			return
		}
	}
}

// run opens the speaker and plays until ctx ends.
func (p *playout) run(ctx context.Context) {
	sink, err := p.e.opt.OpenPlayback(p.e.opt.PlaybackDevice)
	p.e.mu.Lock()
	if err != nil {
		p.e.status.SpeakerError = deviceProblem("speaker", "--speaker", "speaker", err).Error()
	}
	p.e.mu.Unlock()
	if err != nil {
		p.e.log.Warn("speaker unavailable", "err", err)
		p.mu.Lock()
		p.failed, p.sources = true, nil
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	p.sink = sink
	p.mu.Unlock()
	defer sink.Close()
	mix := make([]float32, proto.FrameSamples)
	buf := make([]float32, proto.FrameSamples)
	for ctx.Err() == nil {
		if !p.mixFrame(time.Now(), mix, buf) {
			p.idle(ctx)
			continue
		}
		if err := sink.Write(mix); err != nil {
			p.e.log.Warn("speaker write failed", "err", err)
		}
	}
}

// idle waits for a new source or for 20 ms, since a source that waits
// for frames comes back without output.
func (p *playout) idle(ctx context.Context) {
	t := time.NewTimer(proto.FrameDuration)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-p.wake:
	case <-t.C:
	}
}

// mixFrame sums one frame of every active source into mix and reports
// whether any source played.
func (p *playout) mixFrame(now time.Time, mix, buf []float32) bool {
	p.mu.Lock()
	srcs := append([]source(nil), p.sources...)
	p.mu.Unlock()
	clear(mix)
	played := false
	for _, s := range srcs {
		ok, done := s.fill(now, buf)
		if ok {
			mixInto(mix, buf)
			played = true
		}
		if done {
			p.remove(s)
			s.finished()
		}
	}
	softLimit(mix)
	return played
}
