package tui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vm-voice/vm/client"
)

func TestModelTalkKeptThenStored(t *testing.T) {
	h := newHarness(t, TalkToggle, 120, 30)
	h.send(press("space"))
	kept := &client.TalkKeptError{Cause: errors.New("Application error 0x0 (local): client closed")}
	h.event(client.EngineEvent{Kind: client.EventTalkKept, Conversation: "d.alice.bob", MessageID: "m9", Err: kept})
	if h.m.notice != kept.Error() {
		t.Errorf("got notice %q, want %q", h.m.notice, kept.Error())
	}
	if strings.Contains(h.m.notice, "Application error") {
		t.Errorf("notice %q shows the QUIC error, want plain text", h.m.notice)
	}
	if !h.m.talkOn {
		t.Error("talk is off after EventTalkKept, want it on while capture goes on")
	}

	h.event(client.EngineEvent{Kind: client.EventDisconnected, Err: errors.New("connection lost")})
	h.event(client.EngineEvent{Kind: client.EventConnected, Handle: "alice"})
	if !strings.Contains(h.m.notice, "relay connection was lost; storing what you said") {
		t.Errorf("got notice %q after reconnecting, want the kept message still pending", h.m.notice)
	}

	stored := client.MessageState{ID: "m9", Conversation: "d.alice.bob", Sender: "alice", Time: h.clock, Duration: 3 * time.Second}
	h.event(client.EngineEvent{Kind: client.EventMessageStored, Message: &stored})
	if !strings.Contains(h.m.notice, "what you said is stored") {
		t.Errorf("got notice %q, want the message stored", h.m.notice)
	}
}

func TestModelKeptFailureKeepsNewTalk(t *testing.T) {
	h := newHarness(t, TalkToggle, 120, 30)
	h.send(press("space"))
	saved := &client.TalkSavedError{Path: "/home/alice/.vm/outbox/m1.ogg", Cause: errors.New("timed out")}
	h.event(client.EngineEvent{Kind: client.EventTalkFailed, MessageID: "m1", Err: saved})
	if !h.m.talkOn {
		t.Error("talk is off after an earlier kept message failed, want the new talk on")
	}
	if !strings.Contains(h.m.notice, "outbox/m1.ogg") {
		t.Errorf("got notice %q, want the outbox path", h.m.notice)
	}
}
