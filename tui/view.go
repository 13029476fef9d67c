package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// Smallest terminal the layout fits.
const (
	minWidth  = 40
	minHeight = 12
)

// View renders the whole screen. It only reads the model.
func (m Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.ReportFocus = true
	v.WindowTitle = "vm"
	// Key release events make push-to-talk exact where the terminal
	// supports the kitty keyboard protocol.
	v.KeyboardEnhancements.ReportEventTypes = true
	return v
}

// render returns the screen content as lines of exactly the terminal's
// width.
func (m Model) render() string {
	if m.quitting {
		return ""
	}
	if m.width == 0 || m.height == 0 {
		return "starting vm…"
	}
	if m.width < minWidth || m.height < minHeight {
		return fmt.Sprintf("terminal too small (%dx%d): vm needs at least %dx%d",
			m.width, m.height, minWidth, minHeight)
	}
	footer := m.footer()
	panesHeight := m.height - len(footer)
	leftWidth := min(max(m.width/3, 22), 34)
	left := m.renderPane(convPane, leftWidth, panesHeight, m.convLines(leftWidth-2, panesHeight-2))
	right := m.renderPane(msgPane, m.width-leftWidth, panesHeight,
		m.msgLines(m.width-leftWidth-2, panesHeight-2))
	panes := lipgloss.JoinHorizontal(lipgloss.Top, left, right)
	return panes + "\n" + strings.Join(footer, "\n")
}

// renderPane draws a bordered pane of the given outer size around lines.
func (m Model) renderPane(p pane, width, height int, lines []string) string {
	style := paneStyle
	if m.focus == p {
		style = focusPaneStyle
	}
	return style.Width(width).Height(height).Render(strings.Join(lines, "\n"))
}

// footer returns the lines below the panes: device errors, the notice,
// the status bar, the settings line and the help line.
func (m Model) footer() []string {
	var lines []string
	if e := m.status.MicError; e != "" {
		lines = append(lines, m.banner("✖ "+e)...)
	}
	if e := m.status.SpeakerError; e != "" {
		lines = append(lines, m.banner("✖ "+e)...)
	}
	notice := fit(m.notice, m.width)
	if m.noticeErr {
		notice = noticeErrStyle.Render(notice)
	}
	lines = append(lines, notice, fit(m.statusLine(), m.width), fit(m.settingsLine(), m.width))
	for _, l := range strings.Split(m.help.View(m.keys), "\n") {
		lines = append(lines, fit(l, m.width))
	}
	return lines
}

// maxBannerLines bounds the lines of one device error, so the panes keep
// their room.
const maxBannerLines = 3

// banner wraps a device error, which contains its fix, onto at most
// maxBannerLines full-width lines.
func (m Model) banner(text string) []string {
	wrapped := strings.Split(ansi.Wrap(text, m.width, ""), "\n")
	if len(wrapped) > maxBannerLines {
		wrapped = wrapped[:maxBannerLines]
	}
	for i, l := range wrapped {
		wrapped[i] = errorStyle.Render(fit(l, m.width))
	}
	return wrapped
}

// fit truncates s to width cells and pads it with spaces to width.
func fit(s string, width int) string {
	s = ansi.Truncate(s, width, "…")
	if pad := width - ansi.StringWidth(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	return s
}

// window returns the first row to show of n rows in height rows so that
// row sel is visible.
func window(sel, n, height int) int {
	if height <= 0 || n <= height || sel < height {
		return 0
	}
	return min(sel-height+1, n-height)
}

// formatDuration formats d as m:ss, rounded to the nearest second.
func formatDuration(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
