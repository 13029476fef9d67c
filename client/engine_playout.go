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

// maxPullDelay is how long after the speaker's Write returns the playout
// loop may wait for a live frame that is about to arrive. The speaker then
// still has audio queued, so the wait costs no delay, and a frame that
// arrives in it plays one slot earlier.
//
// NOTE: the wait must stay below the audio the speaker has queued when
// Write returns. 10 ms is half the 20 ms latency that audio.OpenPlayback
// requests from PortAudio. It was checked for underflows only on the virtual
// PulseAudio devices of the e2e tests.
const maxPullDelay = 10 * time.Millisecond

// dueSource is a source that reports when the frame of its next slot is
// expected, so the loop can pull it just after it arrives.
type dueSource interface {
	// due returns that time, or false when there is no frame to wait for.
	due() (time.Time, bool)
}

// playout mixes the active sources into the speaker, one 20 ms frame per
// iteration. The speaker's blocking Write paces the loop. After a Write,
// the loop waits up to maxPullDelay for live frames that are due.
type playout struct {
	e       *Engine
	wake    chan struct{}
	arrived chan struct{} // arrived signals that a live frame was pushed
	opened  chan struct{} // closed once the speaker is open or failed to open

	mu      sync.Mutex // guards sources, sink and failed
	sources []source
	sink    audio.FrameSink
	failed  bool // the speaker could not be opened
}

func newPlayout(e *Engine) *playout {
	return &playout{e: e, wake: make(chan struct{}, 1), arrived: make(chan struct{}, 1),
		opened: make(chan struct{})}
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
		// Status and WaitSpeaker report it to the user interface.
		p.e.log.Info("speaker unavailable", "err", err)
		p.mu.Lock()
		p.failed, p.sources = true, nil
		p.mu.Unlock()
		close(p.opened)
		return
	}
	p.mu.Lock()
	p.sink = sink
	p.mu.Unlock()
	close(p.opened)
	defer sink.Close()
	mix := make([]float32, proto.FrameSamples)
	buf := make([]float32, proto.FrameSamples)
	var written time.Time // written is when the last Write returned, zero after an idle slot.
	for ctx.Err() == nil {
		if !written.IsZero() {
			p.waitDue(ctx, written.Add(maxPullDelay))
		}
		if !p.mixFrame(time.Now(), mix, buf) {
			written = time.Time{}
			p.idle(ctx)
			continue
		}
		if err := sink.Write(mix); err != nil {
			p.e.log.Warn("speaker write failed", "err", err)
		}
		written = time.Now()
	}
}

// frameArrived wakes a loop that waits for a due frame.
func (p *playout) frameArrived() {
	select {
	case p.arrived <- struct{}{}:
	default:
	}
}

// waitDue waits until no source has a frame due, or until deadline: the
// latest time the loop may pull without starving the speaker.
func (p *playout) waitDue(ctx context.Context, deadline time.Time) {
	var timer *time.Timer
	for {
		due, ok := p.latestDue()
		if !ok {
			return
		}
		if due.After(deadline) {
			due = deadline
		}
		wait := time.Until(due)
		if wait <= 0 {
			return
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-p.arrived:
			// Look again: the frame may be the one due.
		}
		if _, ok := p.latestDue(); !ok {
			return
		}
	}
}

// latestDue returns the latest time at which a source expects the frame
// of its next slot, or false when no source waits for one.
func (p *playout) latestDue() (time.Time, bool) {
	p.mu.Lock()
	srcs := append([]source(nil), p.sources...)
	p.mu.Unlock()
	var latest time.Time
	found := false
	for _, s := range srcs {
		ds, ok := s.(dueSource)
		if !ok {
			continue
		}
		if t, ok := ds.due(); ok && (!found || t.After(latest)) {
			latest, found = t, true
		}
	}
	return latest, found
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
