package client

import "time"

// ConversationState is one conversation as the terminal UI lists it.
type ConversationState struct {
	ID      string   // conversation id: "d.alice.bob" or "c.ops"
	Display string   // as the user sees it: "@bob" or "#ops"
	Unread  int      // received messages the user has not played
	Online  []string // other members with a live connection now
	Talking []string // members transmitting now
}

// MessageState is one message of a conversation, stored or in progress.
type MessageState struct {
	ID           string
	Conversation string
	Sender       string
	Time         time.Time
	Duration     time.Duration
	Listened     bool     // the user played it (received messages)
	ListenedBy   []string // recipients who played it (sent messages)
	Live         bool     // still being recorded
}

// EventKind names what an EngineEvent reports.
type EventKind int

// Event kinds an Engine reports.
const (
	EventConnected        EventKind = iota + 1 // session to the relay is up
	EventDisconnected                          // session lost; Err is the cause, and the engine reconnects
	EventPresence                              // Handle went online or offline (Online)
	EventTalkStarted                           // Handle started talking in Conversation (MessageID)
	EventTalkEnded                             // Handle's transmission ended (MessageID, Stored)
	EventMessageStored                         // a new message is stored (Message)
	EventListened                              // Handle played MessageID
	EventPlaybackStarted                       // playback of MessageID began (Duration)
	EventPlaybackProgress                      // playback position (Position, Duration)
	EventPlaybackEnded                         // playback of MessageID ended
	EventTalkFailed                            // the user's own transmission failed (Err, a *TalkSavedError for a kept one)
	// EventTalkStopped reports that the engine ended the user's own
	// transmission without StopTalk: Err is a *MaxLengthError or the
	// microphone's error, and Duration the length sent. What was captured
	// is stored as usual, which EventMessageStored or EventTalkFailed
	// reports later.
	EventTalkStopped
	// EventTalkKept reports that the live upload of the user's own
	// transmission failed, usually because the connection to the relay
	// broke: listeners no longer hear it, but capture goes on while the
	// user talks, and the engine stores the whole message with the same
	// MessageID once the relay is back. Err is a *TalkKeptError.
	// EventMessageStored follows when it is stored, or EventTalkFailed
	// with a *TalkSavedError when the engine gave up and left it in the
	// outbox.
	EventTalkKept
)

// EngineEvent is one change the Engine reports to its user interface.
type EngineEvent struct {
	Kind         EventKind
	Conversation string
	Handle       string
	MessageID    string
	Online       bool
	Stored       bool // EventTalkEnded: the relay stored the message, which EventMessageStored reports next
	Message      *MessageState
	Position     time.Duration
	Duration     time.Duration
	Err          error
}

// PlayOptions selects how a stored message is played.
type PlayOptions struct {
	Speed       float64 // 1, 1.5 or 2; pitch is kept
	SkipSilence bool    // shorten pauses longer than about half a second
}

// EngineStatus is a snapshot of the engine for the status bar.
type EngineStatus struct {
	Connected    bool
	Relay        string
	Handle       string
	RTT          time.Duration
	Silence      time.Duration // since the last packet from the relay, to within 250 ms; zero without a session
	Stale        bool          // Silence is longer than the keepalive allows, so RTT is out of date
	InputLevel   float64       // dBFS of the last captured frame, -100 when silent or not capturing
	Talking      bool
	TalkStarted  time.Time
	TalkTo       string // conversation id of the current transmission
	MicError     string // reason capture is unavailable, with the fix; "" when it works
	SpeakerError string // reason playback is unavailable, with the fix; "" when it works
}
