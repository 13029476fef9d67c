package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/proto"
)

// silentLevel is the input level reported when nothing is captured.
const silentLevel = -100

// ErrAlreadyTalking is returned by StartTalk during a transmission.
var ErrAlreadyTalking = errors.New("already talking")

// MaxLengthError is the reason the engine gives in EventTalkStopped when
// the user's transmission reached the relay's maximum message length.
type MaxLengthError struct {
	Max time.Duration // the relay's maximum message length
}

func (e *MaxLengthError) Error() string {
	return fmt.Sprintf("reached the relay's maximum message length of %s", e.Max)
}

// outgoing is the user's own transmission.
type outgoing struct {
	conv     string
	stop     chan struct{} // closed by StopTalk
	captured chan struct{} // closed when capture has ended
	once     sync.Once
	discard  atomic.Bool // set by CancelTalk: abort the upload instead of storing it
}

// StartTalk starts capturing from the microphone and uploading live to
// conversation conv. It fails at once when there is no session, when the
// relay sent no reply for longer than the keepalive allows (an error that
// wraps ErrRelayUnreachable), when there is no microphone, or while the
// user already talks.
func (e *Engine) StartTalk(conv string) error {
	s, err := e.session()
	if err == nil {
		err = s.Conn().checkReachable(time.Now())
	}
	if err != nil {
		return fmt.Errorf("start talking: %w", err)
	}
	to, err := recipientOf(conv, s.Me())
	if err != nil {
		return fmt.Errorf("start talking: %w", err)
	}
	e.mu.Lock()
	busy := e.talk != nil
	e.mu.Unlock()
	if busy {
		return ErrAlreadyTalking
	}
	src, err := e.opt.OpenCapture(e.opt.CaptureDevice)
	if problem := e.setMicError(err); problem != nil {
		return fmt.Errorf("start talking: %w", problem)
	}
	enc, err := audio.NewEncoder(e.opt.Encoder)
	if err != nil {
		src.Close()
		return fmt.Errorf("start talking: %w", err)
	}
	return e.beginTalk(s, conv, to, src, enc)
}

// beginTalk opens the live upload and starts the capture loop.
func (e *Engine) beginTalk(s *Session, conv string, to proto.Recipient, src audio.FrameSource, enc *audio.Encoder) error {
	ctx, cancel := context.WithTimeout(e.ctx, engineQueryTimeout)
	defer cancel()
	up, err := s.StartLive(e.ctx, to, ulid.Make().String(), int(enc.PreSkip()))
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		src.Close()
		return fmt.Errorf("start talking: %w", err)
	}
	out := &outgoing{conv: conv, stop: make(chan struct{}), captured: make(chan struct{})}
	e.mu.Lock()
	if e.talk != nil {
		e.mu.Unlock()
		up.Abort()
		src.Close()
		return ErrAlreadyTalking
	}
	e.talk = out
	e.status.Talking, e.status.TalkStarted, e.status.TalkTo = true, time.Now(), conv
	e.mu.Unlock()
	e.wg.Go(func() { e.captureLoop(s, out, up, src, enc) })
	return nil
}

// StopTalk ends the user's transmission. It waits until capture has
// stopped, which takes at most a frame or two, but not for the relay:
// the stored message arrives as EventMessageStored, a failure as
// EventTalkFailed. It does nothing when the user is not talking.
func (e *Engine) StopTalk() error {
	e.mu.Lock()
	out := e.talk
	e.mu.Unlock()
	if out == nil {
		return nil
	}
	out.once.Do(func() { close(out.stop) })
	select {
	case <-out.captured:
	case <-time.After(time.Second):
		return errors.New("stop talking: the microphone did not stop within 1s")
	}
	return nil
}

// CancelTalk ends the user's transmission like StopTalk but discards it:
// the upload is aborted, so the relay stores nothing and listeners see
// the talk end without a message. It does nothing when the user is not
// talking.
func (e *Engine) CancelTalk() error {
	e.mu.Lock()
	out := e.talk
	e.mu.Unlock()
	if out == nil {
		return nil
	}
	out.discard.Store(true)
	return e.StopTalk()
}

// talkRecording is the audio that capture kept of the user's transmission.
type talkRecording struct {
	packets   [][]byte // every encoded frame, whether the live upload took it or not
	liveErr   error    // error that ended the live upload, nil while it works
	announced bool     // EventTalkKept was sent
}

// captureLoop reads, encodes and uploads frames until StopTalk, the
// relay's length limit or a capture failure, then finishes the upload.
// When capture ended without StopTalk it reports why in EventTalkStopped
// before the status shows talk ended, so a user interface can name the
// reason rather than guess it. When the live upload failed because the
// connection broke, the message goes to keepTalk instead of being lost.
func (e *Engine) captureLoop(s *Session, out *outgoing, up *LiveUpload, src audio.FrameSource, enc *audio.Encoder) {
	rec, reason, err := e.capture(s, out, up, src, enc)
	src.Close()
	frames := len(rec.packets)
	discard := out.discard.Load()
	if err == nil && reason != nil && !discard {
		e.log.Info("talk stopped by the engine", "conv", out.conv, "msg_id", up.MessageID(), "reason", reason)
		e.emit(EngineEvent{Kind: EventTalkStopped, Conversation: out.conv, MessageID: up.MessageID(),
			Duration: time.Duration(frames) * proto.FrameDuration, Err: reason})
	}
	e.mu.Lock()
	e.talk = nil
	e.status.Talking, e.status.TalkTo, e.status.InputLevel = false, "", silentLevel
	e.mu.Unlock()
	close(out.captured)
	if discard {
		// Abort before Finish resets the stream, so the relay stores nothing.
		up.Abort()
		e.log.Info("talk discarded", "conv", out.conv, "msg_id", up.MessageID(), "frames", frames)
		return
	}
	samples := int64(frames)*proto.FrameSamples - int64(enc.PreSkip())
	whole := &audio.Encoded{Packets: rec.packets, PreSkip: enc.PreSkip(), Samples: samples, InputRate: proto.SampleRate}
	if err == nil && rec.liveErr == nil {
		err = e.finishSaved(out.conv, up, whole)
		// The relay may or may not have stored the message, and a repeat
		// with the same id stores it once either way.
		if err != nil && (IsTransient(err) || e.ctx.Err() != nil) {
			rec.liveErr, err = err, nil
		}
	}
	up.Abort()
	if err != nil {
		e.log.Warn("talk failed", "conv", out.conv, "msg_id", up.MessageID(), "err", err)
		e.emit(EngineEvent{Kind: EventTalkFailed, Conversation: out.conv, MessageID: up.MessageID(), Err: err})
		return
	}
	if rec.liveErr != nil {
		e.keepTalk(out.conv, up.MessageID(), rec, whole)
	}
}

// finishSaved finishes the live upload of message whole while a copy of
// it waits in the outbox, so a relay that died without a word, which
// Finish notices only at the idle timeout, or a vm killed meanwhile,
// loses nothing. The copy goes once Finish returns, unless Finish failed
// for a reason a retry can cure, and then keepTalk takes over the copy.
func (e *Engine) finishSaved(conv string, up *LiveUpload, whole *audio.Encoded) error {
	id := up.MessageID()
	ob := e.outbox()
	// Marked as being sent, so a new session's outbox pass leaves it alone.
	e.mu.Lock()
	e.sending[id] = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.sending, id)
		e.mu.Unlock()
	}()
	path, serr := ob.save(&outboxEntry{id: id, conv: conv, enc: whole})
	if serr != nil {
		e.log.Warn("save talk to the outbox before finishing it", "conv", conv, "msg_id", id, "err", serr)
	}
	_, err := up.Finish(e.ctx, whole.Samples)
	if path != "" && (err == nil || !(IsTransient(err) || e.ctx.Err() != nil)) {
		if rerr := ob.remove(id); rerr != nil {
			e.log.Error("remove outbox copy of a finished talk", "msg_id", id, "err", rerr)
		}
	}
	return err
}

// capture runs the frame loop and returns every encoded frame. The final
// frame carries the last flag, which is a silent frame when the
// microphone fails. reason is nil when StopTalk ended capture, else a
// *MaxLengthError or the microphone's error. A failed live upload does
// not end capture: the user still holds the talk key, so the frames are
// only kept, and listeners no longer hear them.
func (e *Engine) capture(s *Session, out *outgoing, up *LiveUpload, src audio.FrameSource, enc *audio.Encoder) (rec *talkRecording, reason, err error) {
	limit := maxTalkFrames(s)
	rec = &talkRecording{packets: make([][]byte, 0, min(limit, 30*int(time.Second/proto.FrameDuration)))}
	frame := make([]float32, proto.FrameSamples)
	pkt := make([]byte, 4000)
	for {
		rerr := src.Read(frame)
		if rerr != nil {
			clear(frame)
			e.log.Warn("capture failed", "conv", out.conv, "err", rerr)
		}
		stopped := isClosed(out.stop)
		full := len(rec.packets)+1 >= limit
		n, err := enc.Encode(frame, pkt)
		if err != nil {
			return rec, nil, err
		}
		last := rerr != nil || full || stopped
		rec.packets = append(rec.packets, bytes.Clone(pkt[:n]))
		if rec.liveErr == nil {
			if err := up.WriteFrame(pkt[:n], last); err != nil {
				e.liveLost(out, up, rec, err)
			}
		}
		e.setLevel(frame, rerr == nil)
		switch {
		case stopped:
			return rec, nil, nil
		case rerr != nil:
			return rec, fmt.Errorf("the microphone failed: %w", rerr), nil
		case full:
			return rec, &MaxLengthError{Max: time.Duration(limit) * proto.FrameDuration}, nil
		}
	}
}

// maxTalkFrames returns the longest transmission the relay accepts, in
// frames.
func maxTalkFrames(s *Session) int {
	ms := s.Conn().LoginResult().GetMaxMessageMs()
	if ms == 0 {
		return int(5 * time.Minute / proto.FrameDuration)
	}
	return int(time.Duration(ms) * time.Millisecond / proto.FrameDuration)
}

func (e *Engine) setLevel(frame []float32, ok bool) {
	level := float64(silentLevel)
	if ok {
		level = max(levelDBFS(frame), silentLevel)
	}
	e.mu.Lock()
	e.status.InputLevel = level
	e.mu.Unlock()
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
