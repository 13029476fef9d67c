package client

import (
	"context"
	"fmt"
	"time"

	"github.com/vm-voice/vm/proto/pb"
)

// connectLoop keeps a session open: it connects, serves the session's
// events until it ends, and reconnects after the next backoff wait.
func (e *Engine) connectLoop(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		s, err := e.connect(ctx)
		if err == nil {
			attempt = 0
			e.serve(ctx, s)
			err = s.Err()
		}
		if ctx.Err() != nil {
			return
		}
		e.emit(EngineEvent{Kind: EventDisconnected, Err: err})
		wait := e.opt.ReconnectBackoff[min(attempt, len(e.opt.ReconnectBackoff)-1)]
		attempt++
		e.log.Info("reconnecting", "dur", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// connect dials, logs in and opens a session.
func (e *Engine) connect(ctx context.Context) (*Session, error) {
	c, err := Dial(ctx, e.opt.Relay, e.id, e.pins, e.opt.Conn)
	if err != nil {
		return nil, err
	}
	if _, err := c.Login(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return OpenSession(ctx, c, e.opt.Session)
}

// serve installs s as the engine's session and handles its events until
// it ends.
func (e *Engine) serve(ctx context.Context, s *Session) {
	e.mu.Lock()
	e.sess = s
	e.status.Connected = true
	e.status.Handle = s.Me()
	close(e.sessionUp)
	e.mu.Unlock()
	e.log.Info("connected", "remote_addr", e.opt.Relay, "peer", s.Me())
	e.emit(EngineEvent{Kind: EventConnected, Handle: s.Me()})
	e.wg.Go(e.sendOutbox)
	for ev := range s.Events() {
		e.handleEvent(ctx, s, ev)
	}
	e.mu.Lock()
	e.sess = nil
	e.sessionUp = make(chan struct{})
	e.status.Connected = false
	clear(e.online)
	talks := e.talks
	e.talks = map[string]*incoming{}
	e.mu.Unlock()
	for _, in := range talks {
		in.stop()
	}
	if ctx.Err() == nil {
		s.Close()
	}
}

// handleEvent updates the engine's state from one feed event and reports
// it to the user interface.
func (e *Engine) handleEvent(ctx context.Context, s *Session, ev Event) {
	switch b := ev.Msg.GetBody().(type) {
	case *pb.Event_Presence:
		e.mu.Lock()
		e.online[b.Presence.GetHandle()] = b.Presence.GetOnline()
		e.mu.Unlock()
		e.emit(EngineEvent{Kind: EventPresence, Handle: b.Presence.GetHandle(), Online: b.Presence.GetOnline()})
	case *pb.Event_TalkStart:
		e.talkStarted(ctx, s, ev.Talk)
	case *pb.Event_TalkEnd:
		e.talkEnded(b.TalkEnd)
	case *pb.Event_MessageStored:
		m := e.messageState(b.MessageStored)
		e.emit(EngineEvent{Kind: EventMessageStored, Conversation: m.Conversation, Handle: m.Sender,
			MessageID: m.ID, Message: &m})
	case *pb.Event_Listened:
		l := b.Listened
		e.emit(EngineEvent{Kind: EventListened, Conversation: l.GetConversation(), Handle: l.GetHandle(),
			MessageID: l.GetMessageId()})
	default:
		e.log.Debug("unknown event", "event", fmt.Sprintf("%T", b))
	}
}

// talkStarted starts receiving an incoming transmission.
func (e *Engine) talkStarted(ctx context.Context, s *Session, t *Talk) {
	if t == nil {
		return
	}
	ts := t.Start
	in := newIncoming(e, s, t)
	e.mu.Lock()
	e.talks[ts.GetMessageId()] = in
	e.mu.Unlock()
	in.start(ctx, e.opt.AutoPlayLive)
	e.emit(EngineEvent{Kind: EventTalkStarted, Conversation: ts.GetConversation(), Handle: ts.GetSender(),
		MessageID: ts.GetMessageId()})
}

// talkEnded finishes an incoming transmission: its player drains, and
// the frames lost on the live path are filled from the stored message.
func (e *Engine) talkEnded(te *pb.TalkEnd) {
	e.mu.Lock()
	in := e.talks[te.GetMessageId()]
	delete(e.talks, te.GetMessageId())
	e.mu.Unlock()
	sender := ""
	if in != nil {
		sender = in.sender
	}
	if in != nil && te.GetStored() {
		in.markStored()
		e.wg.Go(func() { in.repair(e.ctx) })
	}
	e.emit(EngineEvent{Kind: EventTalkEnded, Conversation: te.GetConversation(), Handle: sender,
		MessageID: te.GetMessageId(), Stored: te.GetStored()})
}
