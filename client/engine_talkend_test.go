package client

import (
	"testing"

	"github.com/vm-voice/vm/proto"
)

func TestEngineTalkEndNamesSenderAndStorage(t *testing.T) {
	alice, bob, mic := startTalkPair(t, 5)
	conv := proto.DirectConversation("alice", "bob")

	if err := alice.StartTalk(conv); err != nil {
		t.Fatalf("StartTalk: %v", err)
	}
	waitEvent(t, bob, EventTalkStarted)
	<-mic.reached
	if err := alice.CancelTalk(); err != nil {
		t.Fatalf("CancelTalk: %v", err)
	}
	ev := waitEvent(t, bob, EventTalkEnded)
	if ev.Handle != "alice" {
		t.Errorf("TalkEnded handle %q, want alice", ev.Handle)
	}
	if ev.Stored {
		t.Error("TalkEnded of a cancelled talk reports it stored")
	}
	if ev.Conversation != conv {
		t.Errorf("TalkEnded conversation %q, want %s", ev.Conversation, conv)
	}
}
