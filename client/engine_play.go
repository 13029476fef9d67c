package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/proto"
)

// Playback tuning.
const (
	skipSilenceGap   = 500 * time.Millisecond // pauses longer than this are cut to it
	progressInterval = 250 * time.Millisecond
	maxCachedBlob    = DefaultMaxBlobSize
)

// ErrNoSpeaker is returned by Play when no speaker could be opened.
var ErrNoSpeaker = errors.New("no speaker")

// storedPlayback is a stored message being played. It stretches the
// message to the playback speed as it plays, a few tens of milliseconds
// ahead, so a speed change applies to the rest of the message.
type storedPlayback struct {
	e        *Engine
	conv, id string
	sender   string
	src      []float32     // the message at normal speed, pauses shortened with SkipSilence
	dur      time.Duration // of the message at normal speed

	mu        sync.Mutex
	speed     float64
	stretch   *audio.Stretcher
	read      int       // samples of src written to stretch
	flushed   bool      // all of src is written and stretch flushed
	queue     []float32 // stretched samples not played yet
	played    float64   // samples of src played, for the position
	lastEvent time.Time
	stopped   bool
}

// stretchChunk is how many samples of the message fill writes to the
// stretcher at a time.
const stretchChunk = 2 * proto.FrameSamples

// Play starts playing message msgID of conversation conv and returns at
// once; loading runs in the background and reports EventPlaybackStarted,
// progress and EventPlaybackEnded. A message still being transmitted is
// played from its start and then live. A finished playback marks the
// message listened.
func (e *Engine) Play(conv, msgID string, opt PlayOptions) error {
	if opt.Speed == 0 {
		opt.Speed = 1
	}
	if err := checkSpeed(opt.Speed); err != nil {
		return fmt.Errorf("play message %s: %w", msgID, err)
	}
	e.mu.Lock()
	noSpeaker := e.status.SpeakerError
	in := e.talks[msgID]
	e.mu.Unlock()
	if noSpeaker != "" {
		return fmt.Errorf("play message %s: %w: %s", msgID, ErrNoSpeaker, noSpeaker)
	}
	if in != nil {
		in.play(e.ctx, true)
		return nil
	}
	e.StopPlayback()
	e.wg.Go(func() { e.startPlayback(conv, msgID, opt) })
	return nil
}

// WaitSpeaker waits until the engine has tried to open the speaker. It
// returns nil when the speaker is open, an error wrapping ErrNoSpeaker
// and stating the fix when it could not be opened, or ctx's error.
func (e *Engine) WaitSpeaker(ctx context.Context) error {
	select {
	case <-e.out.opened:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.Lock()
	problem := e.status.SpeakerError
	e.mu.Unlock()
	if problem != "" {
		return fmt.Errorf("%w: %s", ErrNoSpeaker, problem)
	}
	return nil
}

// checkSpeed returns an error for a playback speed outside 1 to 2.
func checkSpeed(speed float64) error {
	if speed < 1 || speed > 2 {
		return fmt.Errorf("invalid playback speed %.2g: use 1 to 2", speed)
	}
	return nil
}

// SetPlaybackSpeed changes the speed of the stored message being played,
// if any. The change is heard after the audio already stretched at the
// old speed, by estimate under 0.1 s. Play takes the speed of later
// messages from its options.
func (e *Engine) SetPlaybackSpeed(speed float64) error {
	if err := checkSpeed(speed); err != nil {
		return fmt.Errorf("set playback speed: %w", err)
	}
	e.mu.Lock()
	pb := e.playback
	e.mu.Unlock()
	if pb != nil {
		pb.setSpeed(speed)
	}
	return nil
}

// startPlayback loads, prepares and queues a stored message.
func (e *Engine) startPlayback(conv, msgID string, opt PlayOptions) {
	pb, err := e.loadPlayback(conv, msgID, opt)
	if err != nil {
		e.log.Warn("play message", "msg_id", msgID, "conv", conv, "err", err)
		e.emit(EngineEvent{Kind: EventPlaybackEnded, Conversation: conv, MessageID: msgID, Err: err})
		return
	}
	e.mu.Lock()
	old := e.playback
	e.playback = pb
	e.mu.Unlock()
	if old != nil {
		old.stop()
	}
	if !e.out.add(pb) {
		e.emit(EngineEvent{Kind: EventPlaybackEnded, Conversation: conv, MessageID: msgID, Err: ErrNoSpeaker})
		return
	}
	e.emit(EngineEvent{Kind: EventPlaybackStarted, Conversation: conv, MessageID: msgID, Duration: pb.dur})
}

// loadPlayback decodes the message from the cache or the relay and
// applies the play options.
func (e *Engine) loadPlayback(conv, msgID string, opt PlayOptions) (*storedPlayback, error) {
	blob, sender, err := e.messageBlob(conv, msgID)
	if err != nil {
		return nil, err
	}
	pcm, err := audio.DecodeOggOpus(bytes.NewReader(blob), int64(len(blob)))
	if err != nil {
		return nil, err
	}
	samples := audio.ToMono(pcm).Samples
	dur := SamplesDuration(int64(len(samples)))
	if opt.SkipSilence {
		samples = shortenSilences(samples, skipSilenceGap)
	}
	return newStoredPlayback(e, conv, msgID, sender, samples, dur, opt.Speed), nil
}

// newStoredPlayback returns a playback of src, the samples to play at
// normal speed, starting at speed.
func newStoredPlayback(e *Engine, conv, msgID, sender string, src []float32, dur time.Duration, speed float64) *storedPlayback {
	return &storedPlayback{e: e, conv: conv, id: msgID, sender: sender, src: src, dur: dur,
		speed: speed, stretch: audio.NewStretcher(speed)}
}

// messageBlob returns the Ogg Opus bytes of a message, from the cache
// when the engine has a copy, else from the relay, which it then caches.
func (e *Engine) messageBlob(conv, msgID string) ([]byte, string, error) {
	if b, err := os.ReadFile(e.cachePath(msgID)); err == nil && len(b) <= maxCachedBlob {
		return b, "", nil
	}
	s, err := e.session()
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(e.ctx, engineQueryTimeout)
	defer cancel()
	info, blob, err := s.Conn().Fetch(ctx, conv, msgID)
	if err != nil {
		return nil, "", err
	}
	if err := e.writeCache(msgID, blob); err != nil {
		e.log.Debug("cache message", "msg_id", msgID, "err", err)
	}
	return blob, info.GetSender(), nil
}

// writeCache stores a fetched blob as the engine's copy.
func (e *Engine) writeCache(msgID string, blob []byte) error {
	path := e.cachePath(msgID)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, blob, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// StopPlayback stops the stored message being played, if any. The
// message is not marked listened.
func (e *Engine) StopPlayback() {
	e.mu.Lock()
	pb := e.playback
	e.playback = nil
	e.mu.Unlock()
	if pb != nil {
		pb.stop()
	}
}

// stop ends the playback early.
func (p *storedPlayback) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}

// setSpeed plays the rest of the message at speed. The stretcher's
// stream at the old speed is flushed into the queue, so the audio stays
// continuous, and a new stream starts where the old one stopped reading.
func (p *storedPlayback) setSpeed(speed float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if speed == p.speed {
		return
	}
	p.speed = speed
	if p.flushed {
		return
	}
	p.queue = append(p.queue, p.stretch.Flush()...)
	p.stretch = audio.NewStretcher(speed)
}

// fill copies the next 20 ms and reports progress now and then.
func (p *storedPlayback) fill(now time.Time, out []float32) (ok, done bool) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return false, true
	}
	p.stretchAhead(len(out))
	n := copy(out, p.queue)
	p.queue = p.queue[n:]
	clear(out[n:])
	// Samples of the queue stretched just before a speed change count at
	// the new speed, an error of a few tens of milliseconds.
	p.played += float64(n) * p.speed
	pos := SamplesDuration(int64(p.played))
	report := now.Sub(p.lastEvent) >= progressInterval
	if report {
		p.lastEvent = now
	}
	done = p.flushed && len(p.queue) == 0
	p.mu.Unlock()
	if report {
		p.e.emit(EngineEvent{Kind: EventPlaybackProgress, Conversation: p.conv, MessageID: p.id,
			Position: min(pos, p.dur), Duration: p.dur})
	}
	return n > 0, done
}

// stretchAhead stretches the message until the queue holds need samples
// or the message ends. The caller holds p.mu.
func (p *storedPlayback) stretchAhead(need int) {
	for len(p.queue) < need && p.read < len(p.src) {
		end := min(p.read+stretchChunk, len(p.src))
		p.queue = append(p.queue, p.stretch.Write(p.src[p.read:end])...)
		p.read = end
	}
	if p.read >= len(p.src) && !p.flushed {
		p.queue = append(p.queue, p.stretch.Flush()...)
		p.flushed = true
	}
}

// finished reports the end, marks a completely played message listened
// and starts the next unheard one when AutoPlayNext is set.
func (p *storedPlayback) finished() {
	p.mu.Lock()
	complete := !p.stopped
	p.mu.Unlock()
	p.e.mu.Lock()
	if p.e.playback == p {
		p.e.playback = nil
	}
	p.e.mu.Unlock()
	p.e.emit(EngineEvent{Kind: EventPlaybackEnded, Conversation: p.conv, MessageID: p.id,
		Position: p.dur, Duration: p.dur})
	if !complete {
		return
	}
	p.e.wg.Go(func() { p.e.afterPlayback(p.conv, p.id) })
}

// afterPlayback marks the message listened and plays the next unheard
// one when AutoPlayNext is set.
func (e *Engine) afterPlayback(conv, msgID string) {
	s, err := e.session()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, engineQueryTimeout)
	defer cancel()
	e.markListened(ctx, s, conv, msgID)
	if !e.opt.AutoPlayNext {
		return
	}
	if next := e.nextUnheard(ctx, s, conv, msgID); next != "" {
		e.Play(conv, next, PlayOptions{Speed: 1})
	}
}

// markHeardLive sends the listen receipt of a live transmission that
// played to the speaker, in the background because the playout loop and
// the event loop call it. The relay must have stored the message first,
// since it rejects a receipt for an unknown message id.
func (e *Engine) markHeardLive(conv, msgID string) {
	e.wg.Go(func() {
		s, err := e.session()
		if err != nil {
			e.log.Warn("mark live talk listened", "msg_id", msgID, "conv", conv, "err", err)
			return
		}
		ctx, cancel := context.WithTimeout(e.ctx, engineQueryTimeout)
		defer cancel()
		e.markListened(ctx, s, conv, msgID)
	})
}

// markListened sends the listen receipt of message msgID and records it,
// so Messages shows the message listened even before the relay's list
// does. A failure is logged and not retried.
func (e *Engine) markListened(ctx context.Context, s *Session, conv, msgID string) {
	if err := s.Conn().MarkListened(ctx, conv, msgID); err != nil {
		e.log.Warn("mark listened", "msg_id", msgID, "conv", conv, "err", err)
		return
	}
	e.mu.Lock()
	e.listened[msgID] = true
	e.mu.Unlock()
}

// nextUnheard returns the first message after msgID in conv that someone
// else sent and the user has not played, or "".
func (e *Engine) nextUnheard(ctx context.Context, s *Session, conv, msgID string) string {
	msgs, err := e.Messages(ctx, conv)
	if err != nil {
		return ""
	}
	after := false
	for _, m := range msgs {
		switch {
		case m.ID == msgID:
			after = true
		case after && !m.Live && !m.Listened && m.Sender != s.Me():
			return m.ID
		}
	}
	return ""
}
