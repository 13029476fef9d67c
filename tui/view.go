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

// minPanesHeight is the least height of the panes: their borders, a
// title and one row. Device errors and the full help shrink or move to
// keep it.
const minPanesHeight = 4

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
		// Wrapped, so the size vm needs shows even on a narrow terminal.
		return ansi.Wordwrap(fmt.Sprintf("terminal too small (%dx%d): vm needs at least %dx%d",
			m.width, m.height, minWidth, minHeight), m.width, "")
	}
	status := m.statusLines()
	footer := append(m.banners(m.height-minPanesHeight-len(status)-1), status...)
	help := m.helpLines()
	if m.height-len(footer)-len(help) < minPanesHeight {
		// Only the full help is this tall. The keys take the whole screen.
		return m.keysScreen()
	}
	footer = append(footer, help...)
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

// keysScreen draws the full help as one pane that fills the screen, for
// terminals too small to show it below the panes. The title sits in the
// top border to leave the rows to the keys.
func (m Model) keysScreen() string {
	inner := m.width - 2
	title := " Keys · ? hides them "
	border := focusPaneStyle.GetBorderStyle()
	top := border.TopLeft + border.Top + title +
		strings.Repeat(border.Top, max(inner-1-ansi.StringWidth(title), 0)) + border.TopRight
	rows := m.fullHelpRows(inner)
	var help []string
	for _, row := range rows {
		help = append(help, row...)
	}
	room := m.height - 2
	if len(help)+len(rows)-1 <= room {
		// A blank line between rows of columns fits.
		help = nil
		for i, row := range rows {
			if i > 0 {
				help = append(help, "")
			}
			help = append(help, row...)
		}
	}
	if len(help) > room {
		help = append(help[:room-1], dimStyle.Render("… a taller terminal shows the rest"))
	}
	for i, l := range help {
		help[i] = fit(l, inner)
	}
	body := focusPaneStyle.BorderTop(false).Width(m.width).Height(m.height - 1).Render(strings.Join(help, "\n"))
	fg := focusPaneStyle.GetBorderTopForeground()
	return lipgloss.NewStyle().Foreground(fg).Render(top) + "\n" + body
}

// statusLines returns the notice, the status bar and the settings line.
func (m Model) statusLines() []string {
	notice := fit(m.notice, m.width)
	if m.noticeErr {
		notice = noticeErrStyle.Render(notice)
	}
	return []string{notice, fit(m.statusLine(), m.width), fit(m.settingsLine(), m.width)}
}

// maxBannerLines bounds the lines of one device error, so the panes keep
// their room.
const maxBannerLines = 3

// banners returns the device errors, each wrapped onto at most
// maxBannerLines full-width lines, and onto fewer, down to one, when
// they would take more than room lines.
func (m Model) banners(room int) []string {
	var errs []string
	for _, e := range []string{m.status.MicError, m.status.SpeakerError} {
		if e != "" {
			errs = append(errs, "✖ "+e)
		}
	}
	var lines []string
	for n := maxBannerLines; n >= 1; n-- {
		lines = lines[:0]
		for _, e := range errs {
			lines = append(lines, m.banner(e, n)...)
		}
		if len(lines) <= room {
			break
		}
	}
	return lines
}

// banner wraps a device error, which contains its fix, onto at most n
// full-width lines. A cut error ends with an ellipsis.
func (m Model) banner(text string, n int) []string {
	wrapped := strings.Split(ansi.Wrap(text, m.width, ""), "\n")
	if len(wrapped) > n {
		wrapped = wrapped[:n]
		wrapped[n-1] = ansi.Truncate(wrapped[n-1], m.width-1, "") + "…"
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
