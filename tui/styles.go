package tui

import "charm.land/lipgloss/v2"

// Styles use the 16 basic ANSI colors, which every terminal and SSH
// client shows.
var (
	paneStyle      = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(lipgloss.Color("8"))
	focusPaneStyle = paneStyle.BorderForeground(lipgloss.Color("6"))
	titleStyle     = lipgloss.NewStyle().Bold(true)
	selectedStyle  = lipgloss.NewStyle().Reverse(true)
	dimStyle       = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
	onlineStyle    = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	talkingStyle   = lipgloss.NewStyle().Foreground(lipgloss.Color("3")).Bold(true)
	unreadStyle    = lipgloss.NewStyle().Foreground(lipgloss.Color("6")).Bold(true)
	liveStyle      = lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)
	errorStyle     = lipgloss.NewStyle().Foreground(lipgloss.Color("15")).Background(lipgloss.Color("1")).Bold(true)
	noticeErrStyle = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	talkBarStyle   = lipgloss.NewStyle().Foreground(lipgloss.Color("15")).Background(lipgloss.Color("1")).Bold(true)
	meterStyle     = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	meterHotStyle  = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
)
