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
)

// Playback tuning.
const (
	skipSilenceGap   = 500 * time.Millisecond // pauses longer than this are cut to it
	progressInterval = 250 * time.Millisecond
	maxCachedBlob    = DefaultMaxBlobSize
)

// ErrNoSpeaker is returned by Play when no speaker could be opened.
var ErrNoSpeaker = errors.New("no speaker")

// storedPlayback is a stored message being played.
type storedPlayback struct {
	e        *Engine
	conv, id string
	sender   string
	pcm      []float32
	dur      time.Duration // of the message at normal speed
	speed    float64

	mu        sync.Mutex
	pos       int
	lastEvent time.Time
	stopped   bool
}

// Play starts playing message msgID of conversation conv and returns at
// once; loading runs in the background and reports EventPlaybackStarted,
// progress and EventPlaybackEnded. A message still being transmitted is
// played from its start and then live. A finished playback marks the
// message listened.
func (e *Engine) Play(conv, msgID string, opt PlayOptions) error {
	if opt.Speed == 0 {
		opt.Speed = 1
	}
	if opt.Speed < 1 || opt.Speed > 2 {
		return fmt.Errorf("play message %s: speed %.2g out of range 1 to 2", msgID, opt.Speed)
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
	if opt.Speed != 1 {
		samples = stretchPCM(samples, opt.Speed)
	}
	return &storedPlayback{e: e, conv: conv, id: msgID, sender: sender, pcm: samples, dur: dur,
		speed: opt.Speed}, nil
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

// fill copies the next 20 ms and reports progress now and then.
func (p *storedPlayback) fill(now time.Time, out []float32) (ok, done bool) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return false, true
	}
	n := copy(out, p.pcm[p.pos:])
	clear(out[n:])
	p.pos += n
	pos := time.Duration(float64(SamplesDuration(int64(p.pos))) * p.speed)
	report := now.Sub(p.lastEvent) >= progressInterval
	if report {
		p.lastEvent = now
	}
	done = p.pos >= len(p.pcm)
	p.mu.Unlock()
	if report {
		p.e.emit(EngineEvent{Kind: EventPlaybackProgress, Conversation: p.conv, MessageID: p.id,
			Position: min(pos, p.dur), Duration: p.dur})
	}
	return n > 0, done
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
	if err := s.Conn().MarkListened(ctx, conv, msgID); err != nil {
		e.log.Warn("mark listened", "msg_id", msgID, "conv", conv, "err", err)
	} else {
		e.mu.Lock()
		e.listened[msgID] = true
		e.mu.Unlock()
	}
	if !e.opt.AutoPlayNext {
		return
	}
	if next := e.nextUnheard(ctx, s, conv, msgID); next != "" {
		e.Play(conv, next, PlayOptions{Speed: 1})
	}
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
