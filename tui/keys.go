package tui

import "charm.land/bubbles/v2/key"

// keyMap contains the key bindings of the UI. It also feeds the help line.
type keyMap struct {
	Talk        key.Binding
	Up          key.Binding
	Down        key.Binding
	Move        key.Binding // Up and Down together, for the short help only
	Pane        key.Binding
	Play        key.Binding
	Stop        key.Binding
	Speed       key.Binding // Faster and Slower together, for the short help only
	Faster      key.Binding
	Slower      key.Binding
	Speed1      key.Binding
	Speed15     key.Binding
	Speed2      key.Binding
	SkipSilence key.Binding
	AutoNext    key.Binding
	TalkMode    key.Binding
	Refresh     key.Binding
	Help        key.Binding
	Quit        key.Binding
}

// newKeyMap returns the bindings, with the talk key's help text for mode.
func newKeyMap(talkHelp string) keyMap {
	return keyMap{
		Talk:        key.NewBinding(key.WithKeys("space"), key.WithHelp("space", talkHelp)),
		Up:          key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:        key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Move:        key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑↓/jk", "move")),
		Pane:        key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "pane")),
		Play:        key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "play")),
		Stop:        key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "stop")),
		Speed:       key.NewBinding(key.WithKeys("+", "-"), key.WithHelp("+/-", "speed")),
		Faster:      key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "faster")),
		Slower:      key.NewBinding(key.WithKeys("-"), key.WithHelp("-", "slower")),
		Speed1:      key.NewBinding(key.WithKeys("1"), key.WithHelp("1", "1x")),
		Speed15:     key.NewBinding(key.WithKeys("2"), key.WithHelp("2", "1.5x")),
		Speed2:      key.NewBinding(key.WithKeys("3"), key.WithHelp("3", "2x")),
		SkipSilence: key.NewBinding(key.WithKeys("z"), key.WithHelp("z", "skip silence")),
		AutoNext:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "auto-next")),
		TalkMode:    key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "talk mode")),
		Refresh:     key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "refresh")),
		Help:        key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "all keys")),
		Quit:        key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// ShortHelp returns the bindings of the one-line help in the order they
// are shown.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Talk, k.Move, k.Pane, k.Play, k.Stop, k.Speed, k.SkipSilence,
		k.AutoNext, k.TalkMode, k.Refresh, k.Quit, k.Help}
}

// shortHelpByPriority returns the bindings of ShortHelp, most important
// first. A line too narrow for all of them drops them from the end.
func (k keyMap) shortHelpByPriority() []key.Binding {
	return []key.Binding{k.Talk, k.Help, k.Quit, k.Play, k.Move, k.Pane, k.Stop, k.Speed,
		k.SkipSilence, k.AutoNext, k.TalkMode, k.Refresh}
}

// FullHelp returns every binding once, in columns.
func (k keyMap) FullHelp() [][]key.Binding {
	hide := k.Help
	hide.SetHelp("?", "hide keys")
	return [][]key.Binding{
		{k.Talk, k.TalkMode, hide, k.Quit},
		{k.Up, k.Down, k.Pane, k.Refresh},
		{k.Play, k.Stop, k.AutoNext, k.SkipSilence},
		{k.Faster, k.Slower, k.Speed1, k.Speed15, k.Speed2},
	}
}
