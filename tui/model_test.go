package tui

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/vm-voice/vm/client"
)

// screen returns the model's view without styles.
func (h *harness) screen() string {
	return ansi.Strip(h.m.View().Content)
}

func checkCalls(t *testing.T, f *fakeBackend, want ...string) {
	t.Helper()
	if got := f.takeCalls(); !slices.Equal(got, want) {
		t.Errorf("got calls %q, want %q", got, want)
	}
}

func TestModelLoadsLists(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	if got := len(h.m.convs); got != 2 {
		t.Fatalf("got %d conversations, want 2", got)
	}
	if got := h.m.msgConv; got != "d.alice.bob" {
		t.Errorf("got open conversation %q, want d.alice.bob", got)
	}
	// The first load selects the first unheard message.
	if got := h.m.msgSel; got != 2 {
		t.Errorf("got message selection %d, want 2 (m3)", got)
	}
}

func TestModelNavigation(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	h.send(press("j"))
	if got := h.m.msgConv; got != "c.ops" {
		t.Fatalf("after j: got open conversation %q, want c.ops", got)
	}
	if got := len(h.m.msgs); got != 2 {
		t.Errorf("after j: got %d messages, want 2", got)
	}
	h.send(press("down"))
	if got := h.m.convSel; got != 1 {
		t.Errorf("down at the end: got selection %d, want 1", got)
	}
	h.send(press("tab"))
	if h.m.focus != msgPane {
		t.Errorf("after tab: got focus %d, want the timeline", h.m.focus)
	}
	h.send(press("k"))
	h.send(press("up"))
	if got := h.m.msgSel; got != 0 {
		t.Errorf("after k, up: got message selection %d, want 0", got)
	}
	if got := h.m.msgConv; got != "c.ops" {
		t.Errorf("moving in the timeline changed the conversation to %q", got)
	}
	h.send(press("enter"))
	checkCalls(t, h.fake, "play c.ops o1 1x skip=false")
}

func TestModelEnterFocusesTimeline(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	h.send(press("enter"))
	if h.m.focus != msgPane {
		t.Errorf("got focus %d, want the timeline", h.m.focus)
	}
	checkCalls(t, h.fake)
}

func TestModelPlaybackSettings(t *testing.T) {
	tests := []struct {
		keys     string
		want     string
		wantSkip bool
	}{
		{"", "play d.alice.bob m3 1x skip=false", false},
		{"+", "play d.alice.bob m3 1.5x skip=false", false},
		{"++++", "play d.alice.bob m3 2x skip=false", false},
		{"3-", "play d.alice.bob m3 1.5x skip=false", false},
		{"3---", "play d.alice.bob m3 1x skip=false", false},
		{"2z", "play d.alice.bob m3 1.5x skip=true", true},
		{"3zz1", "play d.alice.bob m3 1x skip=false", false},
	}
	for _, tt := range tests {
		t.Run("keys "+tt.keys, func(t *testing.T) {
			h := newHarness(t, TalkAuto, 80, 24)
			h.send(press("tab"))
			for _, r := range tt.keys {
				h.send(press(string(r)))
			}
			h.send(press("enter"))
			checkCalls(t, h.fake, tt.want)
			if h.m.skipSilence != tt.wantSkip {
				t.Errorf("got skip silence %t, want %t", h.m.skipSilence, tt.wantSkip)
			}
		})
	}
}

func TestModelHoldWithRelease(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	h.send(tea.KeyboardEnhancementsMsg{Flags: 0b11})
	h.send(press("space"))
	checkCalls(t, h.fake, "start d.alice.bob")
	if !h.m.talkOn {
		t.Fatal("talk did not start")
	}
	h.advance(2 * time.Second)
	h.send(repeatSpace())
	h.send(repeatSpace())
	checkCalls(t, h.fake)
	if !strings.Contains(h.screen(), "TALK 0:02 → @bob") {
		t.Errorf("screen lacks the talk timer:\n%s", h.screen())
	}
	h.send(releaseSpace())
	checkCalls(t, h.fake, "stop")
	if h.m.talkOn || h.m.talkWant {
		t.Errorf("got talkOn %t, talkWant %t after release, want both false", h.m.talkOn, h.m.talkWant)
	}
}

func TestModelInferredHold(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	h.send(press("space"))
	checkCalls(t, h.fake, "start d.alice.bob")
	// The terminal repeats after 500 ms and then every 33 ms for 2 s.
	h.advance(500 * time.Millisecond)
	for range 60 {
		h.send(press("space"))
		h.advance(33 * time.Millisecond)
	}
	checkCalls(t, h.fake)
	if !h.m.talkOn {
		t.Fatal("talk stopped while repeats arrived")
	}
	h.advance(minRepeatTimeout - 100*time.Millisecond)
	checkCalls(t, h.fake)
	h.advance(200 * time.Millisecond)
	checkCalls(t, h.fake, "stop")
	if got := len(h.timers); got != 1 {
		t.Errorf("got %d timers pending, want only the status poll", got)
	}
}

func TestModelToggle(t *testing.T) {
	h := newHarness(t, TalkToggle, 80, 24)
	h.send(press("space"))
	checkCalls(t, h.fake, "start d.alice.bob")
	h.advance(10 * time.Second)
	if !h.m.talkOn {
		t.Fatal("toggle talk stopped without a press")
	}
	if !strings.Contains(h.screen(), "talk: toggle") {
		t.Errorf("screen does not name the toggle mode:\n%s", h.screen())
	}
	h.send(press("space"))
	checkCalls(t, h.fake, "stop")
}

func TestModelSwitchMode(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	h.send(press("t"))
	if h.m.key.mode != TalkToggle {
		t.Fatalf("after t: got mode %v, want toggle", h.m.key.mode)
	}
	if got := h.m.keys.Talk.Help().Desc; got != "talk on/off" {
		t.Errorf("got talk key help %q, want %q", got, "talk on/off")
	}
	h.send(press("space"))
	h.send(press("t"))
	checkCalls(t, h.fake, "start d.alice.bob", "stop")
	if h.m.key.mode != TalkAuto {
		t.Errorf("after second t: got mode %v, want auto", h.m.key.mode)
	}
}

func TestModelQuickTapOrdersCalls(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	h.send(tea.KeyboardEnhancementsMsg{Flags: 0b11})
	// Deliver press and release before StartTalk returns.
	next, startCmd := h.m.Update(press("space"))
	h.m = next.(Model)
	h.send(releaseSpace())
	checkCalls(t, h.fake)
	h.run(startCmd)
	// The tap is discarded rather than stored.
	checkCalls(t, h.fake, "start d.alice.bob", "cancel")
	if h.m.talkOn || h.m.talkPending {
		t.Errorf("got talkOn %t, talkPending %t, want both false", h.m.talkOn, h.m.talkPending)
	}
	if !strings.Contains(h.screen(), "nothing sent") {
		t.Errorf("screen lacks the tap notice:\n%s", h.screen())
	}
}

func TestModelTapSendsNothing(t *testing.T) {
	tests := []struct {
		name     string
		releases bool
		steps    func(h *harness)
		want     []string
		notice   string
	}{
		{"release tap", true, func(h *harness) {
			h.send(press("space"))
			h.advance(100 * time.Millisecond)
			h.send(releaseSpace())
		}, []string{"start d.alice.bob", "cancel"}, "nothing sent: talk shorter than 0.3 s counts as a tap"},
		{"release hold", true, func(h *harness) {
			h.send(press("space"))
			h.advance(minTalkHold)
			h.send(releaseSpace())
		}, []string{"start d.alice.bob", "stop"}, ""},
		{"inferred tap", false, func(h *harness) {
			h.send(press("space"))
			h.advance(2 * time.Second)
		}, []string{"start d.alice.bob", "cancel"}, "nothing sent: space was tapped, not held"},
		{"inferred hold", false, func(h *harness) {
			h.send(press("space"))
			h.advance(500 * time.Millisecond)
			h.send(press("space"))
			h.advance(2 * time.Second)
		}, []string{"start d.alice.bob", "stop"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, TalkAuto, 80, 24)
			if tt.releases {
				h.send(tea.KeyboardEnhancementsMsg{Flags: 0b11})
			}
			tt.steps(h)
			checkCalls(t, h.fake, tt.want...)
			if h.m.talkOn || h.m.talkWant {
				t.Errorf("got talkOn %t, talkWant %t, want both false", h.m.talkOn, h.m.talkWant)
			}
			if tt.notice != "" && !strings.Contains(h.m.notice, tt.notice) {
				t.Errorf("got notice %q, want it to contain %q", h.m.notice, tt.notice)
			}
			if tt.notice == "" && strings.Contains(h.m.notice, "nothing sent") {
				t.Errorf("got notice %q after a hold, want no tap notice", h.m.notice)
			}
		})
	}
}

func TestModelTalkErrors(t *testing.T) {
	h := newHarness(t, TalkToggle, 80, 24)
	h.fake.startErr = errors.New("start talking: not connected to the relay")
	h.send(press("space"))
	checkCalls(t, h.fake, "start d.alice.bob")
	if h.m.talkOn || h.m.talkWant {
		t.Error("talk is on after StartTalk failed")
	}
	if !strings.Contains(h.screen(), "talk: start talking: not connected") {
		t.Errorf("screen lacks the error:\n%s", h.screen())
	}
	// The next press tries again rather than stopping.
	h.advance(time.Second)
	h.send(press("space"))
	checkCalls(t, h.fake, "start d.alice.bob")
}

func TestModelMicCheckAtStart(t *testing.T) {
	h := newHarness(t, TalkAuto, 100, 30)
	problem := `microphone unavailable: audio device not found: "nosuch" is not among the input devices "pulse", "default": pass one of those with --mic NAME or set mic in config.toml (vm devices lists them)`
	h.fake.micErr = errors.New(problem)
	// The status poll has not run yet: the check alone shows the problem.
	h.run(h.m.Init())
	checkCalls(t, h.fake, "check mic")
	screen := h.screen()
	for _, want := range []string{`✖ microphone unavailable: audio device not found: "nosuch"`, "vm devices lists them", "mic unavailable"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	checkSize(t, screen, 100, 30)

	// Talk stays off, with no call to the engine, even while the key
	// repeats; the rest of the UI works.
	h.send(press("space"))
	h.advance(500 * time.Millisecond)
	h.send(press("space"))
	checkCalls(t, h.fake)
	if h.m.talkWant {
		t.Error("talk requested without a microphone")
	}
	if !strings.Contains(h.screen(), "cannot talk: the microphone is unavailable") {
		t.Errorf("screen lacks the notice:\n%s", h.screen())
	}
	h.send(press("tab"))
	h.send(press("enter"))
	checkCalls(t, h.fake, "play d.alice.bob m3 1x skip=false")

	// r checks again; once the microphone opens, space talks.
	h.fake.micErr = nil
	h.send(press("r"))
	if got := h.fake.takeCalls(); !slices.Contains(got, "check mic") {
		t.Errorf("got calls %q after r, want a microphone check", got)
	}
	if h.m.status.MicError != "" {
		t.Errorf("got MicError %q after a good check, want none", h.m.status.MicError)
	}
	h.advance(time.Second)
	h.send(press("space"))
	checkCalls(t, h.fake, "start d.alice.bob")
}

func TestModelTalkStoppedAtMaxLength(t *testing.T) {
	h := newHarness(t, TalkAuto, 120, 30)
	h.send(press("space"))
	h.advance(500 * time.Millisecond)
	checkCalls(t, h.fake, "start d.alice.bob")
	// The key stays held while the engine ends talk at the limit.
	for range 20 {
		h.send(press("space"))
		h.advance(30 * time.Millisecond)
	}
	h.fake.mu.Lock()
	h.fake.status.Talking = false
	h.fake.mu.Unlock()
	h.event(client.EngineEvent{Kind: client.EventTalkStopped, Conversation: "d.alice.bob", MessageID: "m9",
		Duration: 5 * time.Minute, Err: &client.MaxLengthError{Max: 5 * time.Minute}})
	if h.m.talkOn || h.m.talkWant {
		t.Errorf("got talkOn %t, talkWant %t after EventTalkStopped, want both false", h.m.talkOn, h.m.talkWant)
	}
	want := "talk stopped at the relay's maximum message length of 5:00; storing what you said"
	if !strings.Contains(h.screen(), want) {
		t.Errorf("screen lacks %q:\n%s", want, h.screen())
	}
	// Repeats of the held key start no new talk, and the status poll
	// keeps the reason.
	for range 20 {
		h.send(press("space"))
		h.advance(30 * time.Millisecond)
	}
	h.advance(2 * time.Second)
	checkCalls(t, h.fake)
	if strings.Contains(h.m.notice, "ended by the engine") {
		t.Errorf("got notice %q, want the reason kept", h.m.notice)
	}

	stored := client.MessageState{ID: "m9", Conversation: "d.alice.bob", Sender: "alice", Time: h.clock, Duration: 5 * time.Minute}
	h.event(client.EngineEvent{Kind: client.EventMessageStored, Message: &stored})
	want = "talk stopped at the relay's maximum message length of 5:00; what you said is stored (5:00)"
	if !strings.Contains(h.screen(), want) {
		t.Errorf("screen lacks %q:\n%s", want, h.screen())
	}
}

func TestModelTalkStoppedByMicFailure(t *testing.T) {
	h := newHarness(t, TalkToggle, 120, 30)
	h.send(press("space"))
	h.event(client.EngineEvent{Kind: client.EventTalkStopped, Conversation: "d.alice.bob", MessageID: "m9",
		Err: errors.New("the microphone failed: device unplugged")})
	if !strings.Contains(h.m.notice, "talk stopped: the microphone failed: device unplugged; storing") {
		t.Errorf("got notice %q, want the microphone failure", h.m.notice)
	}
	h.event(client.EngineEvent{Kind: client.EventTalkFailed, MessageID: "m9", Err: errors.New("relay rejected the upload")})
	stored := client.MessageState{ID: "m9", Conversation: "d.alice.bob", Sender: "alice", Time: h.clock, Duration: time.Second}
	h.event(client.EngineEvent{Kind: client.EventMessageStored, Message: &stored})
	if !strings.Contains(h.m.notice, "talk failed: relay rejected the upload") {
		t.Errorf("got notice %q, want the failure kept", h.m.notice)
	}
}

func TestModelSpeedChangeWhilePlaying(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	h.send(press("tab"))
	h.send(press("enter"))
	checkCalls(t, h.fake, "play d.alice.bob m3 1x skip=false")
	// The message is still loading: the engine gets the speed once it
	// starts.
	h.send(press("2"))
	checkCalls(t, h.fake)
	h.event(client.EngineEvent{Kind: client.EventPlaybackStarted, Conversation: "d.alice.bob", MessageID: "m3", Duration: 61 * time.Second})
	checkCalls(t, h.fake, "speed 1.5x")
	h.send(press("3"))
	checkCalls(t, h.fake, "speed 2x")
	h.send(press("3"))
	h.send(press("+"))
	checkCalls(t, h.fake)
	h.send(press("-"))
	checkCalls(t, h.fake, "speed 1.5x")
	h.send(press("s"))
	checkCalls(t, h.fake, "stop playback")
	// Nothing plays: the speed is kept for the next message only.
	h.send(press("1"))
	checkCalls(t, h.fake)
	h.send(press("enter"))
	checkCalls(t, h.fake, "play d.alice.bob m3 1x skip=false")
}

func TestModelTalkFailedEvent(t *testing.T) {
	h := newHarness(t, TalkToggle, 80, 24)
	h.send(press("space"))
	h.event(client.EngineEvent{Kind: client.EventTalkFailed, Err: errors.New("relay rejected the upload")})
	if h.m.talkOn {
		t.Error("talk is on after EventTalkFailed")
	}
	if !strings.Contains(h.screen(), "talk failed: relay rejected the upload") {
		t.Errorf("screen lacks the failure:\n%s", h.screen())
	}
}

func TestModelEvents(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	at := h.clock
	h.event(client.EngineEvent{Kind: client.EventTalkStarted, Conversation: "d.alice.bob", Handle: "bob", MessageID: "m4"})
	if got := h.m.convs[0].Talking; !slices.Equal(got, []string{"bob"}) {
		t.Errorf("got talking %q, want [bob]", got)
	}
	if i := h.m.messageIndex("m4"); i < 0 || !h.m.msgs[i].Live {
		t.Fatalf("live message m4 missing from the timeline: %+v", h.m.msgs)
	}
	if !strings.Contains(h.screen(), "● LIVE") {
		t.Errorf("screen lacks the live marker:\n%s", h.screen())
	}

	h.event(client.EngineEvent{Kind: client.EventTalkEnded, Conversation: "d.alice.bob", MessageID: "m4"})
	if got := h.m.convs[0].Talking; len(got) != 0 {
		t.Errorf("got talking %q after TalkEnded, want none", got)
	}

	stored := client.MessageState{ID: "m4", Conversation: "d.alice.bob", Sender: "bob", Time: at, Duration: 5 * time.Second}
	h.fake.mu.Lock()
	h.fake.convs[0].Unread = 2
	h.fake.mu.Unlock()
	h.event(client.EngineEvent{Kind: client.EventMessageStored, Message: &stored})
	if i := h.m.messageIndex("m4"); i < 0 || h.m.msgs[i].Live {
		t.Errorf("m4 not stored in the timeline: %+v", h.m.msgs)
	}
	if got := h.m.convs[0].Unread; got != 2 {
		t.Errorf("got unread %d after reload, want 2", got)
	}
	if !strings.Contains(h.screen(), "new message from @bob in @bob (0:05)") {
		t.Errorf("screen lacks the new message notice:\n%s", h.screen())
	}

	h.event(client.EngineEvent{Kind: client.EventListened, Handle: "bob", MessageID: "m1"})
	if got := h.m.msgs[0].ListenedBy; !slices.Equal(got, []string{"bob"}) {
		t.Errorf("got listened by %q, want [bob]", got)
	}
}

func TestModelTalkInUnlistedConversation(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	// carol's first message to alice is still live, so only the engine's
	// reloaded list has the conversation.
	h.fake.mu.Lock()
	h.fake.convs = append(h.fake.convs, client.ConversationState{ID: "d.alice.carol", Display: "@carol",
		Talking: []string{"carol"}})
	h.fake.mu.Unlock()
	h.event(client.EngineEvent{Kind: client.EventTalkStarted, Conversation: "d.alice.carol", Handle: "carol", MessageID: "c1"})
	i := slices.IndexFunc(h.m.convs, func(c client.ConversationState) bool { return c.ID == "d.alice.carol" })
	if i < 0 {
		t.Fatalf("d.alice.carol not listed after carol started talking: %+v", h.m.convs)
	}
	if got := h.m.convs[i].Talking; !slices.Equal(got, []string{"carol"}) {
		t.Errorf("got talking %q in d.alice.carol, want [carol]", got)
	}
	if !strings.Contains(h.screen(), "@carol") {
		t.Errorf("screen lacks @carol:\n%s", h.screen())
	}
}

func TestModelPresence(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	h.fake.mu.Lock()
	h.fake.convs[0].Online = nil
	h.fake.mu.Unlock()
	h.event(client.EngineEvent{Kind: client.EventPresence, Handle: "bob", Online: false})
	if got := h.m.convs[0].Online; len(got) != 0 {
		t.Errorf("got online %q after bob went offline, want none", got)
	}
	h.event(client.EngineEvent{Kind: client.EventDisconnected, Err: errors.New("timeout: no recent network activity")})
	if h.m.status.Connected {
		t.Error("still connected after EventDisconnected")
	}
	if !strings.Contains(h.screen(), "disconnected: timeout") {
		t.Errorf("screen lacks the disconnect notice:\n%s", h.screen())
	}
}

func TestModelAutoNext(t *testing.T) {
	tests := []struct {
		name     string
		autoNext bool
		want     []string
	}{
		{"off", false, nil},
		{"on", true, []string{"play d.alice.bob m3 1x skip=false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, TalkAuto, 80, 24)
			if tt.autoNext {
				h.send(press("a"))
			}
			h.event(client.EngineEvent{Kind: client.EventPlaybackStarted, Conversation: "d.alice.bob", MessageID: "m2", Duration: 12 * time.Second})
			h.event(client.EngineEvent{Kind: client.EventPlaybackProgress, MessageID: "m2", Position: 3 * time.Second, Duration: 12 * time.Second})
			if !strings.Contains(h.screen(), "▶ 0:03/0:12") {
				t.Errorf("screen lacks the playback position:\n%s", h.screen())
			}
			h.event(client.EngineEvent{Kind: client.EventPlaybackEnded, Conversation: "d.alice.bob", MessageID: "m2"})
			checkCalls(t, h.fake, tt.want...)
		})
	}
}

func TestModelQuit(t *testing.T) {
	tests := []struct {
		name      string
		talk      bool
		key       string
		wantCalls []string
	}{
		{"q", false, "q", nil},
		{"ctrl+c while talking", true, "ctrl+c", []string{"start d.alice.bob", "stop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, TalkToggle, 80, 24)
			if tt.talk {
				h.send(press("space"))
			}
			h.send(press(tt.key))
			if !h.quit {
				t.Error("the model did not quit")
			}
			checkCalls(t, h.fake, tt.wantCalls...)
		})
	}
}

func TestModelNoConversations(t *testing.T) {
	h := newHarness(t, TalkToggle, 80, 24)
	h.send(convsMsg{convs: nil})
	h.send(press("space"))
	checkCalls(t, h.fake)
	if !strings.Contains(h.screen(), "no conversation to talk to") {
		t.Errorf("screen lacks the notice:\n%s", h.screen())
	}
}

func TestModelStaleMessages(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	h.send(msgsMsg{conv: "c.ops", msgs: nil})
	if got := len(h.m.msgs); got != 3 {
		t.Errorf("a stale list replaced the timeline: got %d messages, want 3", got)
	}
}

func TestModelDisconnectClearsPresence(t *testing.T) {
	h := newHarness(t, TalkAuto, 80, 24)
	h.event(client.EngineEvent{Kind: client.EventPresence, Handle: "bob", Online: true})
	h.event(client.EngineEvent{Kind: client.EventTalkStarted, Handle: "bob", Conversation: h.m.convs[0].ID, MessageID: "m1"})
	h.event(client.EngineEvent{Kind: client.EventDisconnected, Err: errors.New("relay stopped")})
	for _, c := range h.m.convs {
		if len(c.Online) != 0 || len(c.Talking) != 0 {
			t.Errorf("%s: got online %q and talking %q while disconnected, want none", c.Display, c.Online, c.Talking)
		}
	}
}
