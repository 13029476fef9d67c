package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/vm-voice/vm/client"
)

// speeds are the playback speeds + and - step through.
var speeds = []float64{1, 1.5, 2}

// Update handles one message and returns the commands for its side
// effects. It calls no Backend method, so it does not wait on audio or
// the network.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.SetWidth(msg.Width)
		return m, nil
	case tea.KeyboardEnhancementsMsg:
		if msg.SupportsEventTypes() && !m.key.releases {
			m.log.Info("terminal reports key release events")
			m.key.releases = true
		}
		return m, nil
	case tea.KeyPressMsg:
		return m.handlePress(msg)
	case tea.KeyReleaseMsg:
		if key.Matches(msg, m.keys.Talk) {
			return m.applyKey(m.key.release(m.now()))
		}
		return m, nil
	case tea.BlurMsg:
		return m.applyKey(m.key.blur(m.now()))
	case eventMsg:
		m, cmd := m.handleEvent(msg.ev)
		return m, tea.Batch(cmd, waitEvent(m.backend.Events()))
	case eventsClosedMsg:
		m.setNotice("the engine stopped: restart vm", true)
		return m, nil
	}
	return m.handleResult(msg)
}

// handleResult handles the messages that commands return.
func (m Model) handleResult(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case convsMsg:
		return m.setConversations(msg)
	case msgsMsg:
		return m.setMessages(msg)
	case talkResultMsg:
		return m.talkResult(msg)
	case playResultMsg:
		return m.playResult(msg), nil
	case statusMsg:
		return m.setStatus(msg), pollStatus(m.after, m.backend, m.poll, m.now)
	case holdCheckMsg:
		return m.holdCheck(msg)
	case micCheckMsg:
		return m.micChecked(msg), nil
	case speedResultMsg:
		m.setNotice("playback speed: "+msg.err.Error(), true)
		return m, nil
	}
	return m, nil
}

// micChecked shows the outcome of a microphone check at once, rather
// than at the next status poll.
func (m Model) micChecked(msg micCheckMsg) Model {
	had := m.status.MicError
	m.status.MicError = ""
	if msg.err != nil {
		m.status.MicError = msg.err.Error()
	}
	if had != "" && msg.err == nil {
		m.setNotice("the microphone works: space talks again", false)
	}
	return m
}

// handlePress handles a key press.
func (m Model) handlePress(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	switch {
	case key.Matches(msg, k.Talk):
		return m.talkPress(msg.IsRepeat)
	case key.Matches(msg, k.Quit):
		return m.quit()
	case key.Matches(msg, k.Up):
		return m.move(-1)
	case key.Matches(msg, k.Down):
		return m.move(1)
	case key.Matches(msg, k.Pane):
		m.focus = 1 - m.focus
		return m, nil
	case key.Matches(msg, k.Play):
		return m.enter()
	case key.Matches(msg, k.Refresh):
		return m, tea.Batch(m.refresh(), checkMic(m.backend))
	case key.Matches(msg, k.TalkMode):
		return m.switchMode()
	}
	next := m.handleSetting(msg)
	return next, next.settingCmd(msg, m.speed)
}

// handleSetting handles the keys that change playback and talk settings.
func (m Model) handleSetting(msg tea.KeyPressMsg) Model {
	k := m.keys
	switch {
	case key.Matches(msg, k.Faster):
		m.speed = stepSpeed(m.speed, 1)
	case key.Matches(msg, k.Slower):
		m.speed = stepSpeed(m.speed, -1)
	case key.Matches(msg, k.Speed1):
		m.speed = 1
	case key.Matches(msg, k.Speed15):
		m.speed = 1.5
	case key.Matches(msg, k.Speed2):
		m.speed = 2
	case key.Matches(msg, k.SkipSilence):
		m.skipSilence = !m.skipSilence
	case key.Matches(msg, k.AutoNext):
		m.autoNext = !m.autoNext
	case key.Matches(msg, k.Help):
		m.help.ShowAll = !m.help.ShowAll
	case key.Matches(msg, k.Stop):
		m.play = playback{}
	}
	return m
}

// settingCmd returns the side effect of a settings key, if any. A speed
// other than oldSpeed applies to the message being played as well. One
// still loading gets it when its playback starts.
func (m Model) settingCmd(msg tea.KeyPressMsg, oldSpeed float64) tea.Cmd {
	switch {
	case key.Matches(msg, m.keys.Stop):
		return stopPlayback(m.backend)
	case m.speed != oldSpeed && m.play.msgID != "" && !m.play.pending:
		return setPlaybackSpeed(m.backend, m.speed)
	}
	return nil
}

// stepSpeed returns the speed dir steps from cur in speeds, clamped.
func stepSpeed(cur float64, dir int) float64 {
	i := 0
	for j, s := range speeds {
		if s <= cur {
			i = j
		}
	}
	i = min(max(i+dir, 0), len(speeds)-1)
	return speeds[i]
}

// move moves the selection of the focused pane by d rows.
func (m Model) move(d int) (tea.Model, tea.Cmd) {
	if m.focus == msgPane {
		m.msgSel = clamp(m.msgSel+d, len(m.msgs))
		return m, nil
	}
	sel := clamp(m.convSel+d, len(m.convs))
	if sel == m.convSel {
		return m, nil
	}
	m.convSel = sel
	return m.openSelected()
}

// clamp returns i limited to the indexes of a list of n items.
func clamp(i, n int) int {
	return max(0, min(i, n-1))
}

// openSelected clears the timeline and loads the selected conversation's
// messages.
func (m Model) openSelected() (Model, tea.Cmd) {
	c, ok := m.selectedConv()
	if !ok {
		m.msgs, m.msgConv, m.loading = nil, "", false
		return m, nil
	}
	m.msgs, m.msgConv, m.msgSel, m.loading = nil, c.ID, 0, true
	return m, loadMessages(m.ctx, m.backend, c.ID)
}

// enter focuses the timeline from the conversation list, and plays the
// selected message in the timeline.
func (m Model) enter() (tea.Model, tea.Cmd) {
	if m.focus == convPane {
		m.focus = msgPane
		return m, nil
	}
	msg, ok := m.selectedMsg()
	if !ok {
		return m, nil
	}
	return m.startPlay(msg)
}

// startPlay plays msg with the current speed and silence settings.
func (m Model) startPlay(msg client.MessageState) (Model, tea.Cmd) {
	m.play = playback{conv: msg.Conversation, msgID: msg.ID, dur: msg.Duration, pending: true, speed: m.speed}
	opt := client.PlayOptions{Speed: m.speed, SkipSilence: m.skipSilence}
	return m, playMessage(m.backend, msg.Conversation, msg.ID, opt)
}

// playResult clears the playback when Play failed.
func (m Model) playResult(msg playResultMsg) Model {
	if msg.err == nil {
		return m
	}
	if m.play.msgID == msg.msgID {
		m.play = playback{}
	}
	m.setNotice("play: "+msg.err.Error(), true)
	return m
}

// refresh reloads the conversations and the open timeline.
func (m Model) refresh() tea.Cmd {
	cmds := []tea.Cmd{loadConversations(m.ctx, m.backend)}
	if m.msgConv != "" {
		cmds = append(cmds, loadMessages(m.ctx, m.backend, m.msgConv))
	}
	return tea.Batch(cmds...)
}

// quit ends talk, if any, and then the program.
func (m Model) quit() (tea.Model, tea.Cmd) {
	m.quitting = true
	m.talkWant = false
	// A StartTalk still running is ended by Backend.Close instead.
	return m, tea.Sequence(m.syncTalk(), tea.Quit)
}

// setNotice sets the message line below the panes.
func (m *Model) setNotice(text string, isErr bool) {
	m.notice, m.noticeErr = text, isErr
	if isErr {
		m.log.Warn("ui notice", "err", text)
	}
}
