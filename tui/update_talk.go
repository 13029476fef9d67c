package tui

import (
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/vm-voice/vm/client"
)

// engineEndGrace is how long after talk started a status snapshot without
// talk is taken to mean the engine ended it, rather than an old snapshot.
const engineEndGrace = time.Second

// talkPress handles a press of the talk key.
func (m Model) talkPress(repeat bool) (tea.Model, tea.Cmd) {
	act, check := m.key.press(m.now(), repeat)
	var cmd tea.Cmd
	if check > 0 && !m.checkQueued {
		m.checkQueued = true
		cmd = scheduleHoldCheck(m.after, check, m.now)
	}
	m, talk := m.applyKey(act)
	return m, tea.Batch(cmd, talk)
}

// holdCheck ends an inferred hold that timed out, or checks again later.
func (m Model) holdCheck(msg holdCheckMsg) (tea.Model, tea.Cmd) {
	m.checkQueued = false
	act, again := m.key.check(msg.at)
	var cmd tea.Cmd
	if again > 0 {
		m.checkQueued = true
		cmd = scheduleHoldCheck(m.after, again, m.now)
	}
	m, talk := m.applyKey(act)
	return m, tea.Batch(cmd, talk)
}

// applyKey turns a talk key action into the wish to talk or not.
func (m Model) applyKey(act keyAction) (Model, tea.Cmd) {
	switch act {
	case keyStart:
		c, ok := m.selectedConv()
		if !ok {
			m.key.interrupt(m.now())
			m.setNotice("no conversation to talk to: register a peer or join a channel", true)
			return m, nil
		}
		if m.status.Connected && m.status.Stale {
			m.key.interrupt(m.now())
			m.setNotice(fmt.Sprintf("cannot talk: the relay is unreachable (no reply for %s); vm reconnects when the relay responds",
				formatSilence(m.status.Silence)), true)
			return m, nil
		}
		if m.status.MicError != "" {
			// The device check failed: the banner shows why and the fix.
			m.key.interrupt(m.now())
			m.setNotice("cannot talk: the microphone is unavailable (see above); press r to check it again", true)
			return m, nil
		}
		m.talkWant, m.talkConv, m.talkDiscard = true, c.ID, false
	case keyStop:
		m.talkWant = false
	case keyDiscard:
		m.talkWant, m.talkDiscard = false, true
	}
	return m, m.syncTalk()
}

// syncTalk calls StartTalk or StopTalk when the wish differs from what
// the engine does. One call runs at a time, so a quick press and release
// cannot reach the engine as a stop before the start.
func (m *Model) syncTalk() tea.Cmd {
	if m.talkPending || m.talkWant == m.talkOn {
		return nil
	}
	m.talkPending = true
	switch {
	case m.talkWant:
		return startTalk(m.backend, m.talkConv)
	case m.talkDiscard:
		return cancelTalk(m.backend)
	}
	return stopTalk(m.backend)
}

// talkResult records the end of a StartTalk or StopTalk call.
func (m Model) talkResult(msg talkResultMsg) (tea.Model, tea.Cmd) {
	m.talkPending = false
	switch {
	case msg.start && msg.err != nil:
		m.endTalk()
		m.setNotice("talk: "+msg.err.Error(), true)
	case msg.start:
		m.talkOn, m.talkSince = true, m.now()
	case msg.err != nil:
		m.talkOn = false
		m.setNotice("stop talk: "+msg.err.Error(), true)
	case msg.discarded:
		m.talkOn = false
		m.setNotice(m.tapNotice(), false)
	default:
		m.talkOn = false
	}
	return m, m.syncTalk()
}

// tapNotice explains that a tap of the talk key sent nothing.
func (m Model) tapNotice() string {
	if m.key.inferred() {
		return "nothing sent: space was tapped, not held. Hold it while you talk, or press t to start and stop talk with single presses"
	}
	return fmt.Sprintf("nothing sent: talk shorter than %.1f s counts as a tap", minTalkHold.Seconds())
}

// endTalk clears the talk state after the engine ended or rejected talk.
func (m *Model) endTalk() {
	m.talkOn, m.talkWant = false, false
	m.key.interrupt(m.now())
}

// talkStopped shows that the engine ended the user's talk, and why. The
// audio captured is stored unless EventTalkFailed follows, and
// stoppedStored updates the notice once EventMessageStored confirms it.
func (m *Model) talkStopped(ev client.EngineEvent) {
	m.endTalk()
	reason := "talk stopped"
	var maxLen *client.MaxLengthError
	switch {
	case errors.As(ev.Err, &maxLen):
		reason = fmt.Sprintf("talk stopped at the relay's maximum message length of %s", formatDuration(maxLen.Max))
	case ev.Err != nil:
		reason = "talk stopped: " + ev.Err.Error()
	}
	m.stopped = stoppedTalk{msgID: ev.MessageID, reason: reason}
	m.setNotice(reason+"; storing what you said…", true)
}

// stoppedStored completes the notice of a talk the engine ended once its
// message is stored. It reports whether msgID was that talk's message.
func (m *Model) stoppedStored(msgID string, dur time.Duration) bool {
	if m.stopped.msgID == "" || m.stopped.msgID != msgID {
		return false
	}
	m.setNotice(fmt.Sprintf("%s; what you said is stored (%s)", m.stopped.reason, formatDuration(dur)), false)
	m.stopped = stoppedTalk{}
	return true
}

// switchMode switches the talk key between toggle and the push-to-talk
// mode, ending talk in progress.
func (m Model) switchMode() (tea.Model, tea.Cmd) {
	if m.key.mode == TalkToggle {
		m.key.mode = TalkAuto
	} else {
		m.key.mode = TalkToggle
	}
	m.key.reset()
	m.keys = newKeyMap(m.talkHelp())
	m.talkWant = false
	m.setNotice("talk mode: "+m.key.label(), false)
	return m, m.syncTalk()
}

// setStatus stores a status snapshot and notices when the engine ended
// talk by itself.
func (m Model) setStatus(msg statusMsg) Model {
	m.status, m.clock = msg.status, msg.at
	if m.status.Relay != "" {
		m.relay = m.status.Relay
	}
	if m.status.Handle != "" {
		m.me = m.status.Handle
	}
	ended := m.talkOn && !m.talkPending && !msg.status.Talking &&
		msg.at.Sub(m.talkSince) > engineEndGrace
	if ended {
		m.endTalk()
		m.setNotice("talk ended by the engine", true)
	}
	return m
}
