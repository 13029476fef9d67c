package tui

import (
	"context"
	"io"
	"log/slog"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"
	"github.com/vm-voice/vm/client"
)

// Options configures a Model.
type Options struct {
	// TalkMode is the talk key mode the user chose.
	TalkMode TalkMode
	// Relay is the relay address shown until the engine reports one.
	Relay string
	// Handle is the user's handle until the engine reports one. The UI
	// compares it with a message's sender to mark sent messages.
	Handle string
	// Logger receives the UI's log records. It must not write to the
	// terminal the UI draws. Nil discards them.
	Logger *slog.Logger
	// Now returns the current time. Nil means time.Now. Tests set it.
	Now func() time.Time
	// StatusInterval is how often the status bar polls Backend.Status.
	// Zero means 100 ms.
	StatusInterval time.Duration
}

// pane is a focusable half of the screen.
type pane int

const (
	convPane pane = iota
	msgPane
)

// playback is the state of the message being played.
type playback struct {
	conv, msgID string
	pos, dur    time.Duration
	pending     bool    // Play was called and no PlaybackStarted arrived yet
	speed       float64 // the speed Play was called with
}

// stoppedTalk is the user's talk that the engine ended, until its
// message is stored.
type stoppedTalk struct {
	msgID  string
	reason string // cause of the end, as the notice states it
}

// Model is the Bubble Tea model of the UI. Create it with New.
type Model struct {
	ctx     context.Context
	backend Backend
	log     *slog.Logger
	now     func() time.Time
	after   timerFunc
	poll    time.Duration

	keys keyMap
	help help.Model

	width, height int
	focus         pane

	convs   []client.ConversationState
	convSel int
	msgs    []client.MessageState
	msgConv string // conversation of msgs
	msgSel  int
	loading bool // msgs is being loaded for the selected conversation

	status client.EngineStatus
	me     string    // the user's handle
	clock  time.Time // time of the last status poll, for the talk timer
	relay  string

	key         talkKey
	talkWant    bool      // the user asks for talk
	talkOn      bool      // the engine confirmed talk
	talkPending bool      // a StartTalk, StopTalk or CancelTalk call is running
	talkDiscard bool      // the talk ended as a tap: cancel it rather than store it
	talkConv    string    // conversation the user talks to
	talkSince   time.Time // when talkOn became true
	checkQueued bool      // an inferred hold check is scheduled
	stopped     stoppedTalk

	play        playback
	speed       float64
	skipSilence bool
	autoNext    bool

	notice    string // last error or event worth telling the user
	noticeErr bool
	quitting  bool
}

// New returns a Model that drives b. ctx bounds the Backend calls the
// model makes; cancel it to end them.
func New(ctx context.Context, b Backend, opt Options) Model {
	m := Model{
		ctx:     ctx,
		backend: b,
		log:     opt.Logger,
		now:     opt.Now,
		poll:    opt.StatusInterval,
		help:    help.New(),
		relay:   opt.Relay,
		me:      opt.Handle,
		after:   tea.Tick,
		speed:   1,
		key:     talkKey{mode: opt.TalkMode},
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.poll <= 0 {
		m.poll = 100 * time.Millisecond
	}
	m.clock = m.now()
	m.keys = newKeyMap(m.talkHelp())
	return m
}

// Init starts reading engine events, loads the conversations, checks
// the microphone and starts polling the status.
func (m Model) Init() tea.Cmd {
	return tea.Batch(
		waitEvent(m.backend.Events()),
		loadConversations(m.ctx, m.backend),
		checkMic(m.backend),
		pollStatus(m.after, m.backend, m.poll, m.now),
	)
}

// talkHelp returns the help text of the talk key in the current mode.
func (m Model) talkHelp() string {
	if m.key.mode == TalkToggle {
		return "talk on/off"
	}
	return "hold to talk"
}

// selectedConv returns the selected conversation, or false when the list
// is empty.
func (m Model) selectedConv() (client.ConversationState, bool) {
	if m.convSel < 0 || m.convSel >= len(m.convs) {
		return client.ConversationState{}, false
	}
	return m.convs[m.convSel], true
}

// selectedMsg returns the selected message of the timeline, or false when
// it is empty.
func (m Model) selectedMsg() (client.MessageState, bool) {
	if m.msgSel < 0 || m.msgSel >= len(m.msgs) {
		return client.MessageState{}, false
	}
	return m.msgs[m.msgSel], true
}
