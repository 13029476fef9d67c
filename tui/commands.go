package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/vm-voice/vm/client"
)

// requestTimeout bounds one list request to the Backend.
const requestTimeout = 10 * time.Second

// Messages that commands return to Update.
type (
	eventMsg        struct{ ev client.EngineEvent }
	eventsClosedMsg struct{}
	convsMsg        struct {
		convs []client.ConversationState
		err   error
	}
	msgsMsg struct {
		conv string
		msgs []client.MessageState
		err  error
	}
	// talkResultMsg reports the end of a StartTalk (start), StopTalk or
	// CancelTalk (discarded) call.
	talkResultMsg struct {
		start     bool
		discarded bool
		err       error
	}
	// micCheckMsg reports the outcome of Backend.CheckMic.
	micCheckMsg struct{ err error }
	// speedResultMsg reports a failed SetPlaybackSpeed call.
	speedResultMsg struct{ err error }
	playResultMsg  struct {
		msgID string
		err   error
	}
	statusMsg struct {
		status client.EngineStatus
		at     time.Time
	}
	// holdCheckMsg triggers the timeout check of an inferred hold at time at.
	holdCheckMsg struct{ at time.Time }
)

// waitEvent waits for the next engine event.
func waitEvent(ch <-chan client.EngineEvent) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return eventsClosedMsg{}
		}
		return eventMsg{ev}
	}
}

// loadConversations lists the conversations.
func loadConversations(ctx context.Context, b Backend) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		convs, err := b.Conversations(ctx)
		return convsMsg{convs, err}
	}
}

// loadMessages lists the messages of conv.
func loadMessages(ctx context.Context, b Backend, conv string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		msgs, err := b.Messages(ctx, conv)
		return msgsMsg{conv, msgs, err}
	}
}

// startTalk starts a transmission to conv.
func startTalk(b Backend, conv string) tea.Cmd {
	return func() tea.Msg {
		return talkResultMsg{start: true, err: b.StartTalk(conv)}
	}
}

// stopTalk ends the transmission.
func stopTalk(b Backend) tea.Cmd {
	return func() tea.Msg {
		return talkResultMsg{start: false, err: b.StopTalk()}
	}
}

// cancelTalk ends the transmission without storing it.
func cancelTalk(b Backend) tea.Cmd {
	return func() tea.Msg {
		return talkResultMsg{discarded: true, err: b.CancelTalk()}
	}
}

// checkMic checks that the microphone opens.
func checkMic(b Backend) tea.Cmd {
	return func() tea.Msg {
		return micCheckMsg{b.CheckMic()}
	}
}

// setPlaybackSpeed changes the speed of the message being played.
func setPlaybackSpeed(b Backend, speed float64) tea.Cmd {
	return func() tea.Msg {
		if err := b.SetPlaybackSpeed(speed); err != nil {
			return speedResultMsg{err}
		}
		return nil
	}
}

// playMessage starts playing a stored message.
func playMessage(b Backend, conv, msgID string, opt client.PlayOptions) tea.Cmd {
	return func() tea.Msg {
		return playResultMsg{msgID, b.Play(conv, msgID, opt)}
	}
}

// stopPlayback stops playback. It returns no message.
func stopPlayback(b Backend) tea.Cmd {
	return func() tea.Msg {
		b.StopPlayback()
		return nil
	}
}

// timerFunc returns a command that waits d and then returns fn's message.
// It is tea.Tick, and a fake in tests.
type timerFunc func(d time.Duration, fn func(time.Time) tea.Msg) tea.Cmd

// pollStatus reads the engine status after d.
func pollStatus(after timerFunc, b Backend, d time.Duration, now func() time.Time) tea.Cmd {
	return after(d, func(time.Time) tea.Msg {
		// at is read before Status, so the snapshot is no older than at.
		at := now()
		return statusMsg{b.Status(), at}
	})
}

// scheduleHoldCheck returns a command that triggers a hold check after d.
func scheduleHoldCheck(after timerFunc, d time.Duration, now func() time.Time) tea.Cmd {
	return after(d, func(time.Time) tea.Msg { return holdCheckMsg{now()} })
}
