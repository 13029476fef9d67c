package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"
)

// helpLines returns the help below the panes: the one-line help, or with
// ? the full help, as lines of the terminal's width.
func (m Model) helpLines() []string {
	if !m.help.ShowAll {
		return []string{fit(m.shortHelpLine(m.width), m.width)}
	}
	var lines []string
	for i, row := range m.fullHelpRows(m.width) {
		if i > 0 {
			lines = append(lines, fit("", m.width))
		}
		for _, l := range row {
			lines = append(lines, fit(l, m.width))
		}
	}
	return lines
}

// shortHelpLine renders the one-line help in at most width cells. It
// drops whole keys, the least important first, rather than cut one.
func (m Model) shortHelpLine(width int) string {
	sep := m.help.Styles.ShortSeparator.Inline(true).Render(m.help.ShortSeparator)
	sepWidth := lipgloss.Width(sep)
	shown := map[string]bool{}
	used := 0
	for _, b := range m.keys.shortHelpByPriority() {
		w := lipgloss.Width(m.shortHelpItem(b))
		if len(shown) > 0 {
			w += sepWidth
		}
		if used+w > width {
			break
		}
		shown[b.Help().Key] = true
		used += w
	}
	var items []string
	for _, b := range m.keys.ShortHelp() {
		if shown[b.Help().Key] {
			items = append(items, m.shortHelpItem(b))
		}
	}
	return strings.Join(items, sep)
}

// shortHelpItem renders one key of the one-line help.
func (m Model) shortHelpItem(b key.Binding) string {
	st := m.help.Styles
	return st.ShortKey.Inline(true).Render(b.Help().Key) + " " + st.ShortDesc.Inline(true).Render(b.Help().Desc)
}

// fullHelpRows renders every key in columns of at most width cells in
// all, as rows of lines. Columns that do not fit beside the others start
// a new row below.
func (m Model) fullHelpRows(width int) [][]string {
	sep := m.help.Styles.FullSeparator.Inline(true).Render(m.help.FullSeparator)
	var rows [][]string
	var row []string
	rowWidth := 0
	flush := func() {
		if len(row) > 0 {
			rows = append(rows, strings.Split(lipgloss.JoinHorizontal(lipgloss.Top, row...), "\n"))
		}
		row, rowWidth = nil, 0
	}
	for _, group := range m.keys.FullHelp() {
		col := m.help.FullHelpView([][]key.Binding{group})
		w := lipgloss.Width(col)
		if len(row) > 0 && rowWidth+lipgloss.Width(sep)+w > width {
			flush()
		}
		if len(row) > 0 {
			row = append(row, sep)
			rowWidth += lipgloss.Width(sep)
		}
		row = append(row, col)
		rowWidth += w
	}
	flush()
	return rows
}
