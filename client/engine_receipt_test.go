package client

import (
	"slices"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/relay"
)

// channelUser makes a home directory with an identity registered as
// handle on srv that has created channel, when create is set, or joined
// it.
func channelUser(t *testing.T, srv *relay.Server, handle, channel string, create bool) config.Paths {
	t.Helper()
	u := newUser(t)
	c := u.connect(t, srv, handle)
	var err error
	if create {
		_, err = c.CreateChannel(t.Context(), channel)
	} else {
		_, err = c.JoinChannel(t.Context(), channel)
	}
	if err != nil {
		t.Fatalf("@%s on #%s: %v", handle, channel, err)
	}
	home := t.TempDir()
	if err := u.id.Save(home, false); err != nil {
		t.Fatal(err)
	}
	return config.Paths{Home: home}
}

// unreadIn returns e's unread count of conversation conv.
func unreadIn(t *testing.T, e *Engine, conv string) int {
	t.Helper()
	convs, err := e.Conversations(t.Context())
	if err != nil {
		t.Fatalf("Conversations: %v", err)
	}
	for _, c := range convs {
		if c.ID == conv {
			return c.Unread
		}
	}
	t.Fatalf("conversation %s not listed in %+v", conv, convs)
	return 0
}

// storedMessage returns message msgID of conv as e lists it.
func storedMessage(t *testing.T, e *Engine, conv, msgID string) MessageState {
	t.Helper()
	msgs, err := e.Messages(t.Context(), conv)
	if err != nil {
		t.Fatalf("Messages: %v", err)
	}
	for _, m := range msgs {
		if m.ID == msgID && !m.Live {
			return m
		}
	}
	t.Fatalf("message %s not stored in %s: %+v", msgID, conv, msgs)
	return MessageState{}
}

func TestEngineLiveTalkReceipts(t *testing.T) {
	sp := loadSpeech(t)
	srv := startLiveRelay(t)
	addr := srv.Addr().String()
	conv := proto.ChannelConversation("ops")
	alicePaths := channelUser(t, srv, "alice", "ops", true)
	bobPaths := channelUser(t, srv, "bob", "ops", false)
	carolPaths := channelUser(t, srv, "carol", "ops", false)
	davePaths := channelUser(t, srv, "dave", "ops", false)

	// bob hears the talk live. carol has no speaker, and dave does not
	// play live talk, so neither hears it.
	liveDone := make(chan string, 1)
	bob := startEngine(t, EngineOptions{Paths: bobPaths, Relay: addr, AutoPlayLive: true, OpenCapture: noMic,
		OpenPlayback: func(string) (audio.FrameSink, error) {
			return &fakeSpeaker{tick: time.NewTicker(proto.FrameDuration)}, nil
		},
		liveDoneForTest: func(id string, _ livePlayerStats) { liveDone <- id }})
	carol := startEngine(t, EngineOptions{Paths: carolPaths, Relay: addr, AutoPlayLive: true, OpenCapture: noMic,
		OpenPlayback: noSpeaker})
	dave := startEngine(t, EngineOptions{Paths: davePaths, Relay: addr, OpenCapture: noMic,
		OpenPlayback: func(string) (audio.FrameSink, error) {
			return &fakeSpeaker{tick: time.NewTicker(proto.FrameDuration)}, nil
		}})
	mic := newFakeMic(sp.pcm, proto.FrameDuration, 1)
	alice := startEngine(t, EngineOptions{Paths: alicePaths, Relay: addr,
		OpenCapture: func(string) (audio.FrameSource, error) { return mic, nil }, OpenPlayback: noSpeaker})

	if err := alice.StartTalk(conv); err != nil {
		t.Fatalf("StartTalk: %v", err)
	}
	msgID := waitEvent(t, bob, EventTalkStarted).MessageID
	<-mic.spoken
	if err := alice.StopTalk(); err != nil {
		t.Fatalf("StopTalk: %v", err)
	}
	select {
	case id := <-liveDone:
		if id != msgID {
			t.Fatalf("got live playback of %s, want %s", id, msgID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("bob's live playback did not end within 30s")
	}

	heard := waitEvent(t, alice, EventListened)
	if heard.Handle != "bob" {
		t.Errorf("got receipt from @%s, want @bob", heard.Handle)
	}
	if heard.MessageID != msgID {
		t.Errorf("got receipt for message %s, want %s", heard.MessageID, msgID)
	}
	if n := unreadIn(t, bob, conv); n != 0 {
		t.Errorf("bob: got %d unread in %s, want 0 after hearing the talk live", n, conv)
	}
	if m := storedMessage(t, bob, conv, msgID); !m.Listened {
		t.Errorf("bob: got message %s not listened, want listened", msgID)
	}

	// TalkEnd comes before MessageStored, so carol and dave have passed
	// every point where a receipt could be sent.
	for _, e := range []*Engine{carol, dave} {
		handle := e.Status().Handle
		waitEvent(t, e, EventMessageStored)
		if n := unreadIn(t, e, conv); n != 1 {
			t.Errorf("%s: got %d unread in %s, want 1 because the talk did not play", handle, n, conv)
		}
		if m := storedMessage(t, e, conv, msgID); m.Listened {
			t.Errorf("%s: got message %s listened, want not listened", handle, msgID)
		}
	}
	if got := storedMessage(t, alice, conv, msgID).ListenedBy; !slices.Equal(got, []string{"bob"}) {
		t.Errorf("got message listened by %q, want only bob", got)
	}
}
