package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/vm-voice/vm/client"
)

// talkMark marks a conversation where someone is talking.
const talkMark = ")))"

// convLines renders the conversation list into width by height cells.
func (m Model) convLines(width, height int) []string {
	lines := []string{fit(titleStyle.Render("Conversations"), width)}
	if len(m.convs) == 0 {
		return append(lines, fit(dimStyle.Render("none yet"), width))
	}
	rows := height - 1
	start := window(m.convSel, len(m.convs), rows)
	for i := start; i < len(m.convs) && i < start+rows; i++ {
		lines = append(lines, m.convRow(m.convs[i], i == m.convSel, width))
	}
	return lines
}

// convRow renders one conversation: online dot, name, talking mark and
// unread count.
func (m Model) convRow(c client.ConversationState, selected bool, width int) string {
	dot := dimStyle.Render("○")
	if len(c.Online) > 0 {
		dot = onlineStyle.Render("●")
	}
	var right string
	if len(c.Talking) > 0 {
		right = talkingStyle.Render(talkMark)
	}
	if c.Unread > 0 {
		right += " " + unreadStyle.Render(fmt.Sprint(c.Unread))
	}
	left := "  " + dot + " " + c.Display
	if selected {
		left = m.cursor(convPane) + dot + " " + selectedStyle.Render(c.Display)
	}
	pad := width - ansi.StringWidth(left) - ansi.StringWidth(right)
	if pad < 1 {
		left = ansi.Truncate(left, max(width-ansi.StringWidth(right)-1, 2), "…")
		pad = 1
	}
	return fit(left+strings.Repeat(" ", pad)+right, width)
}

// msgLines renders the timeline of the open conversation.
func (m Model) msgLines(width, height int) []string {
	c, ok := m.selectedConv()
	if !ok {
		return []string{fit(dimStyle.Render("no conversations: run vm channel join NAME or vm send FILE --to @HANDLE"), width)}
	}
	lines := []string{fit(m.timelineTitle(c), width)}
	switch {
	case m.loading:
		return append(lines, fit(dimStyle.Render("loading…"), width))
	case len(m.msgs) == 0:
		return append(lines, fit(dimStyle.Render("no messages yet: "+m.keys.Talk.Help().Desc), width))
	}
	rows := height - 1
	start := window(m.msgSel, len(m.msgs), rows)
	for i := start; i < len(m.msgs) && i < start+rows; i++ {
		lines = append(lines, m.msgRow(m.msgs[i], i == m.msgSel, width))
	}
	return lines
}

// timelineTitle names the conversation and who in it is online and
// talking.
func (m Model) timelineTitle(c client.ConversationState) string {
	title := titleStyle.Render(c.Display)
	if len(c.Talking) > 0 {
		title += "  " + talkingStyle.Render(talkMark+" "+strings.Join(c.Talking, ", ")+" talking")
	}
	if len(c.Online) > 0 {
		title += "  " + onlineStyle.Render("online: "+strings.Join(c.Online, ", "))
	}
	return title
}

// msgRow renders one message: time, sender, duration and state.
func (m Model) msgRow(msg client.MessageState, selected bool, width int) string {
	dur := msg.Duration
	if msg.Live {
		dur = max(m.clock.Sub(msg.Time), dur)
	}
	row := fmt.Sprintf("%-12s %-12s %5s", m.formatTime(msg.Time),
		ansi.Truncate("@"+msg.Sender, 12, "…"), formatDuration(dur))
	cursor := "  "
	if selected {
		row = selectedStyle.Render(row)
		cursor = m.cursor(msgPane)
	}
	return fit(cursor+row+"  "+m.msgState(msg), width)
}

// cursor returns the mark of a pane's selected row: solid in the focused
// pane, hollow in the other.
func (m Model) cursor(p pane) string {
	if m.focus == p {
		return "▸ "
	}
	return "▹ "
}

// msgState describes a message: live, playing, unheard, heard, or for
// sent messages who played it.
func (m Model) msgState(msg client.MessageState) string {
	switch {
	case msg.Live:
		return liveStyle.Render("● LIVE")
	case msg.ID == m.play.msgID && m.play.pending:
		return "▶ starting"
	case msg.ID == m.play.msgID:
		return fmt.Sprintf("▶ %s/%s", formatDuration(m.play.pos), formatDuration(m.play.dur))
	case msg.Sender == m.me && len(msg.ListenedBy) > 0:
		return dimStyle.Render("✓ heard by " + strings.Join(msg.ListenedBy, ", "))
	case msg.Sender == m.me:
		return dimStyle.Render("sent")
	case msg.Listened:
		return dimStyle.Render("✓ heard")
	}
	return unreadStyle.Render("● new")
}

// formatTime shows t as a local clock time, with the date unless it is
// the same day as the model's clock.
func (m Model) formatTime(t time.Time) string {
	t = t.In(m.clock.Location())
	y1, m1, d1 := t.Date()
	y2, m2, d2 := m.clock.Date()
	if y1 == y2 && m1 == m2 && d1 == d2 {
		return t.Format("15:04")
	}
	return t.Format("Jan 02 15:04")
}

// statusLine renders the connection, round-trip time, input level and
// talk timer.
func (m Model) statusLine() string {
	var parts []string
	if m.talkWant || m.talkOn {
		parts = append(parts, talkBarStyle.Render(" "+m.talkLabel()+" "))
	}
	mic := "mic " + levelMeter(m.status.InputLevel, 10)
	if m.status.MicError != "" {
		mic = "mic " + liveStyle.Render("unavailable")
	}
	parts = append(parts, mic, m.connLabel())
	switch {
	case m.status.Connected && m.status.Stale:
		// The RTT is QUIC's estimate from the last reply, so it is out of
		// date.
		parts = append(parts, liveStyle.Render("no reply for "+formatSilence(m.status.Silence)))
	case m.status.Connected && m.status.RTT > 0:
		parts = append(parts, "rtt "+formatRTT(m.status.RTT))
	}
	return strings.Join(parts, "  ")
}

// talkLabel returns the talk indicator with its timer and destination.
func (m Model) talkLabel() string {
	if !m.talkOn {
		return "● TALK starting… → " + m.convDisplay(m.talkConv)
	}
	since := m.talkSince
	if !m.status.TalkStarted.IsZero() && m.status.Talking {
		since = m.status.TalkStarted
	}
	elapsed := max(m.clock.Sub(since), 0)
	return fmt.Sprintf("● TALK %s → %s", formatDuration(elapsed), m.convDisplay(m.talkConv))
}

// connLabel returns the connection state with the relay and handle.
func (m Model) connLabel() string {
	relay := m.relay
	if relay == "" {
		relay = "relay"
	}
	user := ""
	if m.me != "" {
		user = " as @" + m.me
	}
	if m.status.Connected && m.status.Stale {
		return liveStyle.Render("●") + " " + relay + user + " not responding"
	}
	if m.status.Connected {
		return onlineStyle.Render("●") + " " + relay + user
	}
	return liveStyle.Render("○") + " connecting to " + relay + "…"
}

// formatSilence formats the time since the relay's last reply in whole
// seconds.
func formatSilence(d time.Duration) string {
	return fmt.Sprintf("%.0fs", d.Seconds())
}

// formatRTT formats a round-trip time in whole milliseconds, or with one
// decimal below 10 ms.
func formatRTT(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}

// Range of the level meter in dBFS.
const (
	meterFloor = -60.0
	meterHot   = -6.0
)

// levelMeter renders an input level in dBFS as a bar of cells and the
// number, or "off" at or below -100 dBFS, the engine's value for silence
// or no capture.
func levelMeter(dbfs float64, cells int) string {
	if dbfs <= -100 || math.IsNaN(dbfs) {
		return dimStyle.Render("off")
	}
	frac := (min(dbfs, 0) - meterFloor) / -meterFloor
	n := int(math.Round(max(frac, 0) * float64(cells)))
	style := meterStyle
	if dbfs > meterHot {
		style = meterHotStyle
	}
	bar := style.Render(strings.Repeat("█", n)) + dimStyle.Render(strings.Repeat("░", cells-n))
	return fmt.Sprintf("%s %.0f dBFS", bar, dbfs)
}

// settingsLine renders the talk mode, playback settings and the
// playback position.
func (m Model) settingsLine() string {
	onOff := map[bool]string{true: "on", false: "off"}
	parts := []string{
		"talk: " + m.key.label(),
		fmt.Sprintf("speed %gx", m.speed),
		"skip silence " + onOff[m.skipSilence],
		"auto-next " + onOff[m.autoNext],
	}
	if m.play.msgID != "" && !m.play.pending {
		parts = append(parts, fmt.Sprintf("▶ %s/%s", formatDuration(m.play.pos), formatDuration(m.play.dur)))
	}
	return strings.Join(parts, " · ")
}
