package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/proto/pb"
)

// KeptRetryTime bounds how long the engine tries to store a message whose
// live upload failed. After that the message stays in the outbox, and the
// engine sends it at its next connection to the relay.
const KeptRetryTime = 5 * time.Minute

// keptBackoff is the wait after each failed attempt to store a kept
// message while a session is up; the last wait repeats. Without a
// session the engine waits for the next one instead.
var keptBackoff = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second}

// errKeptTimedOut is the cause of the end of retrying after KeptRetryTime.
var errKeptTimedOut = fmt.Errorf("could not send your message for %s", KeptRetryTime)

// TalkKeptError is the Err of EventTalkKept: the live upload of the
// user's message failed, so listeners no longer hear it, but the engine
// keeps the audio and stores it when the relay is back. Cause is the
// upload's error. SaveErr, when set, is why the message could not be
// written to the outbox, so it exists only in the engine's memory.
type TalkKeptError struct {
	Cause   error
	SaveErr error
}

func (e *TalkKeptError) Error() string {
	if e.SaveErr != nil {
		return fmt.Sprintf("relay connection lost, and saving your message failed (%v): it will be sent when the relay is back, but quitting vm before then loses it",
			e.SaveErr)
	}
	return "relay connection lost: keeping your message, it will be sent when the relay is back"
}

func (e *TalkKeptError) Unwrap() error { return e.Cause }

// TalkSavedError is the Err of EventTalkFailed for a kept message that
// the engine could not store: Path is its outbox file, or "" when saving
// it failed too. Rejected is the error that rules out any retry: the
// relay's rejection, or the client's own check of the recipient.
// Otherwise sending failed for KeptRetryTime, and the engine sends the
// file at its next connection.
type TalkSavedError struct {
	Path     string
	Rejected error
	Cause    error // the last error of sending, or of saving when Path is ""
}

func (e *TalkSavedError) Error() string {
	switch {
	case e.Path == "":
		return fmt.Sprintf("your message could not be sent or saved: %v", e.Cause)
	case e.Rejected != nil:
		return fmt.Sprintf("your message cannot be sent: %v; it is saved in %s, and vm send can send it again",
			e.Rejected, e.Path)
	}
	return fmt.Sprintf("%v: it is saved in %s and will be sent at the next connection to the relay",
		errKeptTimedOut, e.Path)
}

func (e *TalkSavedError) Unwrap() error {
	if e.Rejected != nil {
		return e.Rejected
	}
	return e.Cause
}

// liveLost records that the live upload of the current talk failed at a
// frame: capture goes on into memory, and the user learns that the
// message is kept.
func (e *Engine) liveLost(out *outgoing, up *LiveUpload, rec *talkRecording, err error) {
	rec.liveErr = err
	up.Abort()
	e.log.Warn("live upload failed; keeping the talk in memory", "conv", out.conv, "msg_id", up.MessageID(),
		"frame", len(rec.packets)-1, "err", err)
	e.announceKept(out.conv, up.MessageID(), rec)
}

// announceKept sends EventTalkKept once per talk.
func (e *Engine) announceKept(conv, msgID string, rec *talkRecording) {
	if rec.announced {
		return
	}
	rec.announced = true
	e.emit(EngineEvent{Kind: EventTalkKept, Conversation: conv, MessageID: msgID,
		Err: &TalkKeptError{Cause: rec.liveErr}})
}

// keepTalk stores a talk whose live upload failed: it saves the message
// to the outbox at once, so it survives the engine and the process, and
// then sends it with the same id in the background.
func (e *Engine) keepTalk(conv, msgID string, rec *talkRecording, enc *audio.Encoded) {
	e.announceKept(conv, msgID, rec)
	m := &outboxEntry{id: msgID, conv: conv, enc: enc}
	path, err := e.outbox().save(m)
	if err != nil {
		e.log.Error("save kept talk", "conv", conv, "msg_id", msgID, "err", err)
		e.emit(EngineEvent{Kind: EventTalkKept, Conversation: conv, MessageID: msgID,
			Err: &TalkKeptError{Cause: rec.liveErr, SaveErr: err}})
	} else {
		e.log.Info("talk kept in the outbox", "conv", conv, "msg_id", msgID, "path", path,
			"dur", SamplesDuration(enc.Samples))
	}
	e.startSending(m, path)
}

func (e *Engine) outbox() outbox {
	return outbox{dir: filepath.Join(e.opt.Paths.Home, OutboxDir)}
}

// sendOutbox sends the messages in the outbox that are not being sent
// already. The engine calls it on each new session.
func (e *Engine) sendOutbox() {
	ob := e.outbox()
	ids, err := ob.list()
	if err != nil {
		e.log.Error("send outbox", "err", err)
		return
	}
	for _, id := range ids {
		if e.isSending(id) {
			continue
		}
		m, err := ob.load(id)
		if err != nil {
			path, rerr := ob.reject(id)
			e.log.Error("invalid outbox entry", "msg_id", id, "err", err, "moved_to", path, "move_err", rerr)
			continue
		}
		e.log.Info("sending outbox entry", "conv", m.conv, "msg_id", id)
		e.startSending(m, ob.path(id))
	}
}

func (e *Engine) isSending(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sending[id]
}

// startSending starts storing m in the background unless it is being
// stored already. path is its outbox file, or "" when saving failed.
func (e *Engine) startSending(m *outboxEntry, path string) {
	id := m.id // sendKept may give m a new id
	e.mu.Lock()
	busy := e.sending[id]
	e.sending[id] = true
	e.mu.Unlock()
	if busy {
		return
	}
	e.wg.Go(func() {
		defer func() {
			e.mu.Lock()
			delete(e.sending, id)
			e.mu.Unlock()
		}()
		e.sendKept(m, path)
	})
}

// sendKept stores m with its own id, retrying for KeptRetryTime, and then
// removes its outbox file. When it gives up, the file stays, or moves to
// the failed directory when the relay rejected the message.
func (e *Engine) sendKept(m *outboxEntry, path string) {
	ctx, cancel := context.WithTimeoutCause(e.ctx, KeptRetryTime, errKeptTimedOut)
	defer cancel()
	if age := idAge(m.id, time.Now()); age > maxKeptIDAge {
		old := m.id
		if err := e.outbox().renew(m); err != nil {
			e.keptFailed(m, path, err)
			return
		}
		if path != "" {
			path = e.outbox().path(m.id)
		}
		e.log.Info("kept talk gets a new message id, because the relay rejects old ones",
			"conv", m.conv, "old_msg_id", old, "msg_id", m.id, "age", age.Round(time.Minute))
	}
	var res *pb.UploadResult
	var me string
	err := retryKept(ctx, keptBackoff, e.log, e.waitSession, func(ctx context.Context, s *Session) error {
		to, err := recipientOf(m.conv, s.Me())
		if err != nil {
			return err
		}
		me = s.Me()
		res, err = s.Conn().Send(ctx, to, m.enc, m.id)
		return err
	})

	switch {
	case err == nil:
		e.log.Info("kept talk stored", "conv", m.conv, "msg_id", m.id, "duplicate", res.GetDuplicate())
		if err := e.outbox().remove(m.id); err != nil {
			e.log.Error("remove outbox entry of a stored message", "msg_id", m.id, "err", err)
		}
		if res.GetDuplicate() {
			// The relay announces only new messages, so the user would
			// not learn that this one is stored.
			e.emitStored(m, me, res)
		}
	case e.ctx.Err() != nil:
		// The engine is closing, and the next one sends the outbox file.
		if path == "" {
			path, err = e.outbox().save(m)
		}
		e.log.Info("engine closed before storing kept talk", "msg_id", m.id, "path", path, "err", err)
	default:
		e.keptFailed(m, path, err)
	}
}

// keptFailed reports a kept message that sendKept gave up on with err.
// It saves the message when the first save failed, and moves it to the
// failed directory when the relay rejected it.
func (e *Engine) keptFailed(m *outboxEntry, path string, err error) {
	ob := e.outbox()
	failure := &TalkSavedError{Path: path, Cause: err}
	if path == "" {
		var serr error
		if failure.Path, serr = ob.save(m); serr != nil {
			failure.Cause = serr
		}
	}
	if !IsTransient(err) && !errors.Is(err, errKeptTimedOut) && failure.Path != "" {
		failure.Rejected = err
		if moved, merr := ob.reject(m.id); merr == nil {
			failure.Path = moved
		} else {
			e.log.Error("move rejected outbox entry", "msg_id", m.id, "err", merr)
		}
	}
	e.log.Warn("kept talk not stored", "conv", m.conv, "msg_id", m.id, "path", failure.Path, "err", err)
	e.emit(EngineEvent{Kind: EventTalkFailed, Conversation: m.conv, MessageID: m.id, Err: failure})
}

// emitStored reports a kept message the relay had stored already.
func (e *Engine) emitStored(m *outboxEntry, me string, res *pb.UploadResult) {
	created := time.Now()
	if id, err := ulid.ParseStrict(m.id); err == nil {
		created = ulid.Time(id.Time())
	}
	st := MessageState{ID: m.id, Conversation: m.conv, Sender: me, Time: created,
		Duration: time.Duration(res.GetDurationMs()) * time.Millisecond}
	e.emit(EngineEvent{Kind: EventMessageStored, Conversation: m.conv, Handle: me, MessageID: m.id, Message: &st})
}

// waitSession returns the current session, waiting for one while the
// engine reconnects.
func (e *Engine) waitSession(ctx context.Context) (*Session, error) {
	for {
		e.mu.Lock()
		s, up := e.sess, e.sessionUp
		e.mu.Unlock()
		if s != nil {
			return s, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// retryKept calls send with a session from waitSession until it
// succeeds, fails with an error that IsTransient rejects, or ctx ends.
// After failed attempt i it waits backoff[i], and the last wait repeats.
// When ctx ends it returns ctx's cause wrapping the last error.
func retryKept[S any](ctx context.Context, backoff []time.Duration, log *slog.Logger,
	waitSession func(context.Context) (S, error), send func(context.Context, S) error) error {
	var last error
	for attempt := 0; ; attempt++ {
		s, err := waitSession(ctx)
		if err != nil {
			return joinCause(ctx, last)
		}
		last = send(ctx, s)
		switch {
		case last == nil:
			return nil
		case ctx.Err() != nil:
			return joinCause(ctx, last)
		case !IsTransient(last):
			return last
		}
		wait := backoff[min(attempt, len(backoff)-1)]
		log.Info("retrying kept talk", "attempt", attempt+2, "dur", wait, "err", last)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return joinCause(ctx, last)
		case <-t.C:
		}
	}
}

// joinCause returns ctx's cause, wrapping last when there is one.
func joinCause(ctx context.Context, last error) error {
	if last == nil {
		return context.Cause(ctx)
	}
	return fmt.Errorf("%w (last error: %w)", context.Cause(ctx), last)
}
