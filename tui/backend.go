package tui

import (
	"context"

	"github.com/vm-voice/vm/client"
)

// Backend is the live engine the UI drives. *client.Engine implements it,
// and tests use a fake. The UI calls every method from a tea.Cmd, never
// from Update, so a method may block for a short bounded time.
type Backend interface {
	// Events returns the channel of engine events. The UI reads it until
	// it is closed.
	Events() <-chan client.EngineEvent
	Conversations(ctx context.Context) ([]client.ConversationState, error)
	Messages(ctx context.Context, conv string) ([]client.MessageState, error)
	// StartTalk starts capture and a live upload to conv. It returns an
	// error at once when there is no microphone.
	StartTalk(conv string) error
	// StopTalk ends the transmission. The stored message arrives later as
	// an EventMessageStored event.
	StopTalk() error
	// CancelTalk ends the transmission without storing it.
	CancelTalk() error
	// CheckMic opens and closes the microphone and returns the problem,
	// with its fix, or nil. Status().MicError reports the same.
	CheckMic() error
	// Play starts playing a stored message without waiting for it to end.
	Play(conv, msgID string, opt client.PlayOptions) error
	// SetPlaybackSpeed changes the speed of the message being played.
	SetPlaybackSpeed(speed float64) error
	StopPlayback()
	// Status returns a snapshot for the status bar.
	Status() client.EngineStatus
	Close() error
}
