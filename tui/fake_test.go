package tui

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/vm-voice/vm/client"
)

// fakeBackend is a Backend that records calls and returns canned data.
type fakeBackend struct {
	events chan client.EngineEvent

	mu       sync.Mutex
	convs    []client.ConversationState
	msgs     map[string][]client.MessageState
	status   client.EngineStatus
	startErr error
	micErr   error // returned by CheckMic
	calls    []string
	closed   bool
}

// newFake returns a fake with alice's conversations with bob and #ops.
func newFake() *fakeBackend {
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	return &fakeBackend{
		events: make(chan client.EngineEvent, 16),
		convs: []client.ConversationState{
			{ID: "d.alice.bob", Display: "@bob", Unread: 1, Online: []string{"bob"}},
			{ID: "c.ops", Display: "#ops", Unread: 2},
		},
		msgs: map[string][]client.MessageState{
			"d.alice.bob": {
				{ID: "m1", Conversation: "d.alice.bob", Sender: "alice", Time: t0, Duration: 4 * time.Second, ListenedBy: []string{"bob"}},
				{ID: "m2", Conversation: "d.alice.bob", Sender: "bob", Time: t0.Add(time.Minute), Duration: 12 * time.Second, Listened: true},
				{ID: "m3", Conversation: "d.alice.bob", Sender: "bob", Time: t0.Add(2 * time.Minute), Duration: 61 * time.Second},
			},
			"c.ops": {
				{ID: "o1", Conversation: "c.ops", Sender: "carol", Time: t0.Add(-25 * time.Hour), Duration: 3 * time.Second},
				{ID: "o2", Conversation: "c.ops", Sender: "dave", Time: t0.Add(-time.Hour), Duration: 7 * time.Second},
			},
		},
		status: client.EngineStatus{Connected: true, Relay: "127.0.0.1:4433", Handle: "alice",
			RTT: 23 * time.Millisecond, InputLevel: -100},
	}
}

func (f *fakeBackend) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// takeCalls returns the calls recorded since the last takeCalls.
func (f *fakeBackend) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func (f *fakeBackend) Events() <-chan client.EngineEvent { return f.events }

func (f *fakeBackend) Conversations(context.Context) ([]client.ConversationState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.convs), nil
}

func (f *fakeBackend) Messages(_ context.Context, conv string) ([]client.MessageState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.msgs[conv]; !ok {
		return nil, errors.New("unknown conversation " + conv)
	}
	return slices.Clone(f.msgs[conv]), nil
}

func (f *fakeBackend) StartTalk(conv string) error {
	f.record("start %s", conv)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return f.startErr
	}
	f.status.Talking = true
	f.status.TalkTo = conv
	return nil
}

func (f *fakeBackend) StopTalk() error {
	f.record("stop")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.Talking = false
	return nil
}

func (f *fakeBackend) CancelTalk() error {
	f.record("cancel")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.Talking = false
	return nil
}

func (f *fakeBackend) CheckMic() error {
	f.record("check mic")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.MicError = ""
	if f.micErr != nil {
		f.status.MicError = f.micErr.Error()
	}
	return f.micErr
}

func (f *fakeBackend) SetPlaybackSpeed(speed float64) error {
	f.record("speed %gx", speed)
	return nil
}

func (f *fakeBackend) Play(conv, id string, opt client.PlayOptions) error {
	f.record("play %s %s %gx skip=%t", conv, id, opt.Speed, opt.SkipSilence)
	return nil
}

func (f *fakeBackend) StopPlayback() { f.record("stop playback") }

func (f *fakeBackend) Status() client.EngineStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeBackend) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// timer is a command scheduled through the harness's fake timerFunc.
type timer struct {
	due time.Time
	fn  func(time.Time) tea.Msg
}

// timerMsg carries a scheduled timer out of a command.
type timerMsg struct {
	d  time.Duration
	fn func(time.Time) tea.Msg
}

// harness runs a Model with a fake clock: commands run synchronously,
// timers fire only when advance passes their due time, and engine events
// are delivered by event.
type harness struct {
	t      *testing.T
	m      Model
	fake   *fakeBackend
	clock  time.Time
	timers []timer
	quit   bool
}

// newHarness returns a harness whose model has loaded its lists and has a
// width by height terminal.
func newHarness(t *testing.T, mode TalkMode, width, height int) *harness {
	t.Helper()
	h := &harness{t: t, fake: newFake(), clock: time.Date(2026, 3, 14, 9, 5, 0, 0, time.UTC)}
	// A closed channel makes the event command return at once, and the
	// harness drops its eventsClosedMsg. Tests deliver events with event.
	close(h.fake.events)
	opt := Options{TalkMode: mode, Relay: "127.0.0.1:4433", Handle: "alice", Now: func() time.Time { return h.clock }}
	h.m = New(context.Background(), h.fake, opt)
	h.m.after = func(d time.Duration, fn func(time.Time) tea.Msg) tea.Cmd {
		return func() tea.Msg { return timerMsg{d, fn} }
	}
	h.run(loadConversations(h.m.ctx, h.fake))
	h.send(tea.WindowSizeMsg{Width: width, Height: height})
	h.send(statusMsg{h.fake.Status(), h.clock})
	h.fake.takeCalls()
	return h
}

// send delivers msg to the model and runs the commands it returns.
func (h *harness) send(msg tea.Msg) {
	h.t.Helper()
	next, cmd := h.m.Update(msg)
	h.m = next.(Model)
	h.run(cmd)
}

// run runs cmd and feeds every message it produces back to the model.
func (h *harness) run(cmd tea.Cmd) {
	h.t.Helper()
	for _, msg := range h.collect(cmd) {
		switch msg := msg.(type) {
		case timerMsg:
			h.timers = append(h.timers, timer{h.clock.Add(msg.d), msg.fn})
		case tea.QuitMsg:
			h.quit = true
		default:
			h.send(msg)
		}
	}
}

// collect runs cmd, flattening batches and sequences in order.
func (h *harness) collect(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if msg == nil || msg == (eventsClosedMsg{}) {
		return nil
	}
	v := reflect.ValueOf(msg)
	if v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeFor[tea.Cmd]() {
		var out []tea.Msg
		for i := range v.Len() {
			out = append(out, h.collect(v.Index(i).Interface().(tea.Cmd))...)
		}
		return out
	}
	return []tea.Msg{msg}
}

// event delivers an engine event as the event command would.
func (h *harness) event(ev client.EngineEvent) {
	h.t.Helper()
	h.send(eventMsg{ev})
}

// advance moves the clock by d and fires the timers that are due, in
// order of their due time.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	end := h.clock.Add(d)
	for {
		i := h.nextTimer(end)
		if i < 0 {
			break
		}
		tm := h.timers[i]
		h.timers = slices.Delete(h.timers, i, i+1)
		h.clock = tm.due
		h.send(tm.fn(tm.due))
	}
	h.clock = end
}

// nextTimer returns the index of the earliest timer due by end, or -1.
func (h *harness) nextTimer(end time.Time) int {
	best := -1
	for i, tm := range h.timers {
		if tm.due.After(end) {
			continue
		}
		if best < 0 || tm.due.Before(h.timers[best].due) {
			best = i
		}
	}
	return best
}

// press returns a press of the named key: "space", "enter", "tab", "up",
// "down" or a printable character.
func press(name string) tea.KeyPressMsg {
	switch name {
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(name)[0]
	return tea.KeyPressMsg{Code: r, Text: name}
}

// repeatSpace returns an auto-repeat press of space as the kitty keyboard
// protocol reports it.
func repeatSpace() tea.KeyPressMsg {
	return tea.KeyPressMsg{Code: tea.KeySpace, Text: " ", IsRepeat: true}
}

// releaseSpace returns a release of space.
func releaseSpace() tea.KeyReleaseMsg {
	return tea.KeyReleaseMsg{Code: tea.KeySpace, Text: " "}
}
