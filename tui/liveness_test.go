package tui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vm-voice/vm/client"
)

// setStale makes the fake engine report a relay silent for silence, and
// delivers that status to the model.
func (h *harness) setStale(silence time.Duration) {
	h.t.Helper()
	h.fake.mu.Lock()
	h.fake.status.Stale, h.fake.status.Silence = true, silence
	h.fake.mu.Unlock()
	h.send(statusMsg{h.fake.Status(), h.clock})
}

func TestStatusLineShowsStaleRelay(t *testing.T) {
	h := newHarness(t, TalkAuto, 100, 24)
	if !strings.Contains(h.screen(), "rtt 23ms") {
		t.Fatalf("screen lacks the rtt before the relay fell silent:\n%s", h.screen())
	}
	h.setStale(5200 * time.Millisecond)
	screen := h.screen()
	if !strings.Contains(screen, "no reply for 5s") {
		t.Errorf("screen lacks the silence:\n%s", screen)
	}
	if strings.Contains(screen, "rtt 23ms") {
		t.Errorf("screen shows the out-of-date rtt:\n%s", screen)
	}
	if !strings.Contains(screen, "not responding") {
		t.Errorf("screen lacks the stale connection state:\n%s", screen)
	}
}

func TestTalkPressOnStaleRelay(t *testing.T) {
	h := newHarness(t, TalkToggle, 100, 24)
	h.setStale(6 * time.Second)
	h.send(press("space"))
	checkCalls(t, h.fake)
	if h.m.talkWant || h.m.talkOn {
		t.Errorf("got talkWant %t, talkOn %t on a stale relay, want both false", h.m.talkWant, h.m.talkOn)
	}
	if !strings.Contains(h.screen(), "relay is unreachable (no reply for 6s)") {
		t.Errorf("screen lacks the unreachable notice:\n%s", h.screen())
	}
	if strings.Contains(h.screen(), "microphone") {
		t.Errorf("screen blames the microphone:\n%s", h.screen())
	}
}

func TestUnstoredTalkLeavesTimeline(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	conv := h.m.convs[0].ID
	h.event(client.EngineEvent{Kind: client.EventTalkStarted, Conversation: conv, Handle: "bob", MessageID: "m4"})
	if h.m.messageIndex("m4") < 0 {
		t.Fatal("live message m4 missing from the timeline")
	}
	h.event(client.EngineEvent{Kind: client.EventTalkEnded, Conversation: conv, Handle: "bob", MessageID: "m4"})
	if i := h.m.messageIndex("m4"); i >= 0 {
		t.Errorf("unstored m4 still in the timeline: %+v", h.m.msgs[i])
	}
	if got := len(h.m.msgs); got != 3 {
		t.Errorf("got %d messages, want the 3 stored ones", got)
	}
	if h.m.msgSel >= len(h.m.msgs) {
		t.Errorf("selection %d past the end of %d messages", h.m.msgSel, len(h.m.msgs))
	}
	if got := h.m.convs[0].Talking; len(got) != 0 {
		t.Errorf("got talking %q, want none", got)
	}
	if strings.Contains(h.screen(), "LIVE") {
		t.Errorf("screen still shows a live row:\n%s", h.screen())
	}
}

func TestStoredTalkStaysInTimeline(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	conv := h.m.convs[0].ID
	h.event(client.EngineEvent{Kind: client.EventTalkStarted, Conversation: conv, Handle: "bob", MessageID: "m4"})
	h.event(client.EngineEvent{Kind: client.EventTalkEnded, Conversation: conv, Handle: "bob", MessageID: "m4", Stored: true})
	i := h.m.messageIndex("m4")
	if i < 0 {
		t.Fatal("stored m4 left the timeline")
	}
	if h.m.msgs[i].Live {
		t.Error("stored m4 still marked live")
	}
}

func TestTalkEndClearsMarkOutsideTimeline(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	// bob talks in #ops while alice's timeline shows @bob, so no row
	// names the sender.
	h.event(client.EngineEvent{Kind: client.EventTalkStarted, Conversation: "c.ops", Handle: "bob", MessageID: "o3"})
	h.event(client.EngineEvent{Kind: client.EventTalkEnded, Conversation: "c.ops", Handle: "bob", MessageID: "o3"})
	if got := h.m.convs[1].Talking; len(got) != 0 {
		t.Errorf("got talking %q in #ops, want none", got)
	}
}

func TestDisconnectDropsLiveRows(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	conv := h.m.convs[0].ID
	h.event(client.EngineEvent{Kind: client.EventTalkStarted, Conversation: conv, Handle: "bob", MessageID: "m4"})
	h.event(client.EngineEvent{Kind: client.EventDisconnected, Err: errors.New("timeout: no recent network activity")})
	if i := h.m.messageIndex("m4"); i >= 0 {
		t.Errorf("live m4 still in the timeline while disconnected: %+v", h.m.msgs[i])
	}
	if got := len(h.m.msgs); got != 3 {
		t.Errorf("got %d messages, want the 3 stored ones", got)
	}
}
