// Package tui is the full-screen terminal UI of vm, built on Bubble Tea.
//
// The Model lists conversations on the left and the timeline of the
// selected one on the right, with a status bar and a help line below. It
// drives a Backend (the client's live engine) only through tea.Cmd
// functions that capture values, so Update itself calls no Backend
// method. Engine events arrive through a command that waits on
// Backend.Events and is issued again after each event.
//
// The talk key works in one of three ways. Where the terminal reports key
// release (the kitty keyboard protocol), talk lasts while the key is held.
// Elsewhere the hold is inferred from auto-repeat presses: talk stops
// when no repeat has arrived for a timeout. In toggle mode one press
// starts and the next one stops. A tap of the key sends nothing: the
// talk is cancelled rather than stored, by the rule talkKey documents.
package tui
