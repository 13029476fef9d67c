package tui

import (
	"errors"
	"fmt"
	"slices"

	tea "charm.land/bubbletea/v2"
	"github.com/vm-voice/vm/client"
)

// handleEvent applies one engine event to the model.
func (m Model) handleEvent(ev client.EngineEvent) (Model, tea.Cmd) {
	switch ev.Kind {
	case client.EventConnected:
		m.status.Connected = true
		m.setNotice("", false)
		if m.stopped.msgID != "" {
			m.setNotice(m.stopped.reason+"; storing what you said…", true)
		}
		return m, m.refresh()
	case client.EventDisconnected:
		m.status.Connected = false
		m.setNotice(fmt.Sprintf("disconnected: %v; reconnecting", ev.Err), true)
		// Presence is unknown until the feed is back; the reconnect
		// reloads the list with the relay's snapshot.
		for i := range m.convs {
			m.convs[i].Online, m.convs[i].Talking = nil, nil
		}
		// Live rows would keep their timers running; the reconnect
		// reloads the timeline with what the relay stored.
		m.dropLiveMessages()
	case client.EventPresence:
		return m.presence(ev)
	case client.EventTalkStarted:
		if !m.talkStarted(ev) {
			// A first message still live: the reloaded list has it.
			return m, loadConversations(m.ctx, m.backend)
		}
	case client.EventTalkEnded:
		m.talkEnded(ev)
	case client.EventMessageStored:
		return m.messageStored(ev)
	case client.EventListened:
		m.listened(ev)
	case client.EventTalkStopped:
		m.talkStopped(ev)
	case client.EventTalkKept:
		// Capture goes on while the user holds the key, so only the
		// notice changes until the message is stored.
		m.stopped = stoppedTalk{msgID: ev.MessageID, reason: "relay connection was lost"}
		m.setNotice(ev.Err.Error(), true)
	case client.EventTalkFailed:
		// A kept message fails after its talk ended, maybe while the
		// user talks again.
		var saved *client.TalkSavedError
		if !errors.As(ev.Err, &saved) {
			m.endTalk()
		}
		if ev.MessageID == m.stopped.msgID {
			m.stopped = stoppedTalk{}
		}
		m.setNotice(fmt.Sprintf("talk failed: %v", ev.Err), true)
	default:
		return m.playbackEvent(ev)
	}
	return m, nil
}

// presence marks a member online or offline. Direct conversations are
// updated at once; channel membership is only known to the engine, so
// the list is reloaded as well.
func (m Model) presence(ev client.EngineEvent) (Model, tea.Cmd) {
	m.convs = slices.Clone(m.convs)
	for i, c := range m.convs {
		direct := c.Display == "@"+ev.Handle || c.ID == ev.Conversation
		switch {
		case ev.Online && direct:
			c.Online = addName(c.Online, ev.Handle)
		case !ev.Online:
			c.Online = removeName(c.Online, ev.Handle)
			c.Talking = removeName(c.Talking, ev.Handle)
		}
		m.convs[i] = c
	}
	return m, loadConversations(m.ctx, m.backend)
}

// talkStarted marks ev.Handle as talking and shows the live message. It
// returns false when the conversation is not listed.
func (m *Model) talkStarted(ev client.EngineEvent) bool {
	listed := m.updateConv(ev.Conversation, func(c *client.ConversationState) {
		c.Talking = addName(c.Talking, ev.Handle)
	})
	if ev.Conversation != m.msgConv || ev.MessageID == "" {
		return listed
	}
	live := client.MessageState{
		ID: ev.MessageID, Conversation: ev.Conversation, Sender: ev.Handle,
		Time: m.now(), Live: true,
	}
	m.upsertMessage(live)
	return listed
}

// talkEnded clears the talking mark of the transmission's sender. A
// transmission the relay did not store, because the sender cancelled it
// or its connection died, leaves the timeline. If it is stored later
// under the same id, EventMessageStored brings it back.
func (m *Model) talkEnded(ev client.EngineEvent) {
	sender := ev.Handle
	if i := m.messageIndex(ev.MessageID); i >= 0 {
		m.msgs[i].Live = false
		if sender == "" {
			sender = m.msgs[i].Sender
		}
		if !ev.Stored {
			m.removeMessage(i)
		}
	}
	if sender == "" {
		return
	}
	m.updateConv(ev.Conversation, func(c *client.ConversationState) {
		c.Talking = removeName(c.Talking, sender)
	})
}

// messageStored adds a stored message to the open timeline and reloads
// the list for its unread count.
func (m Model) messageStored(ev client.EngineEvent) (Model, tea.Cmd) {
	msg := ev.Message
	if msg == nil {
		return m, nil
	}
	if msg.Conversation == m.msgConv {
		m.upsertMessage(*msg)
	}
	if m.stoppedStored(msg.ID, msg.Duration) {
		return m, loadConversations(m.ctx, m.backend)
	}
	if msg.Sender != m.me {
		m.setNotice(fmt.Sprintf("new message from @%s in %s (%s)",
			msg.Sender, m.convDisplay(msg.Conversation), formatDuration(msg.Duration)), false)
	}
	return m, loadConversations(m.ctx, m.backend)
}

// listened marks a message as played by ev.Handle.
func (m *Model) listened(ev client.EngineEvent) {
	i := m.messageIndex(ev.MessageID)
	if i < 0 {
		return
	}
	msg := &m.msgs[i]
	if ev.Handle == m.me {
		msg.Listened = true
		return
	}
	msg.ListenedBy = addName(msg.ListenedBy, ev.Handle)
}

// playbackEvent follows the playback of a stored message.
func (m Model) playbackEvent(ev client.EngineEvent) (Model, tea.Cmd) {
	switch ev.Kind {
	case client.EventPlaybackStarted:
		asked := m.play.speed
		if m.play.msgID != ev.MessageID {
			asked = 0
		}
		m.play = playback{conv: ev.Conversation, msgID: ev.MessageID, dur: ev.Duration, speed: asked}
		if asked != 0 && asked != m.speed {
			// The speed changed while the message was loading.
			m.play.speed = m.speed
			return m, setPlaybackSpeed(m.backend, m.speed)
		}
	case client.EventPlaybackProgress:
		if ev.MessageID == m.play.msgID {
			m.play.pos, m.play.dur = ev.Position, ev.Duration
		}
	case client.EventPlaybackEnded:
		return m.playbackEnded(ev)
	}
	return m, nil
}

// playbackEnded marks the message heard and, with auto-next on, plays the
// next unheard message of the timeline.
func (m Model) playbackEnded(ev client.EngineEvent) (Model, tea.Cmd) {
	if ev.MessageID == m.play.msgID {
		m.play = playback{}
	}
	i := m.messageIndex(ev.MessageID)
	if i >= 0 && m.msgs[i].Sender != m.me {
		m.msgs[i].Listened = true
	}
	reload := loadConversations(m.ctx, m.backend)
	next := m.nextUnheard(i + 1)
	if !m.autoNext || next < 0 || m.play.msgID != "" {
		return m, reload
	}
	m.msgSel = next
	m, play := m.startPlay(m.msgs[next])
	return m, tea.Batch(reload, play)
}

// nextUnheard returns the index of the first stored message from another
// sender not yet played, starting at from, or -1.
func (m Model) nextUnheard(from int) int {
	for i := max(from, 0); i < len(m.msgs); i++ {
		msg := m.msgs[i]
		if !msg.Listened && !msg.Live && msg.Sender != m.me {
			return i
		}
	}
	return -1
}

// messageIndex returns the index of message id in the timeline, or -1.
func (m Model) messageIndex(id string) int {
	if id == "" {
		return -1
	}
	return slices.IndexFunc(m.msgs, func(x client.MessageState) bool { return x.ID == id })
}

// removeMessage removes message i from the timeline. The selection stays
// on the same message, or moves to the previous one.
func (m *Model) removeMessage(i int) {
	m.msgs = slices.Delete(slices.Clone(m.msgs), i, i+1)
	if m.msgSel > i || m.msgSel >= len(m.msgs) {
		m.msgSel = max(m.msgSel-1, 0)
	}
}

// dropLiveMessages removes the messages still being recorded from the
// timeline.
func (m *Model) dropLiveMessages() {
	for i := len(m.msgs) - 1; i >= 0; i-- {
		if m.msgs[i].Live {
			m.removeMessage(i)
		}
	}
}

// upsertMessage replaces the message with msg's id or inserts msg in time
// order. The selection stays on the same message.
func (m *Model) upsertMessage(msg client.MessageState) {
	if i := m.messageIndex(msg.ID); i >= 0 {
		m.msgs[i] = msg
		return
	}
	at := len(m.msgs)
	for at > 0 && m.msgs[at-1].Time.After(msg.Time) {
		at--
	}
	followLast := m.msgSel >= len(m.msgs)-1
	m.msgs = slices.Insert(slices.Clone(m.msgs), at, msg)
	if at <= m.msgSel && !followLast {
		m.msgSel++
	}
	if followLast {
		m.msgSel = len(m.msgs) - 1
	}
}

// updateConv applies f to the conversation with id and reports whether
// it is listed.
func (m *Model) updateConv(id string, f func(*client.ConversationState)) bool {
	i := slices.IndexFunc(m.convs, func(c client.ConversationState) bool { return c.ID == id })
	if i < 0 {
		return false
	}
	m.convs = slices.Clone(m.convs)
	f(&m.convs[i])
	return true
}

// convDisplay returns how conversation id is shown.
func (m Model) convDisplay(id string) string {
	for _, c := range m.convs {
		if c.ID == id {
			return c.Display
		}
	}
	return id
}

// addName returns names with name added once.
func addName(names []string, name string) []string {
	if name == "" || slices.Contains(names, name) {
		return names
	}
	return append(slices.Clone(names), name)
}

// removeName returns names without name.
func removeName(names []string, name string) []string {
	if !slices.Contains(names, name) {
		return names
	}
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == name })
}
