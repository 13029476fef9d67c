package tui

import (
	"fmt"
	"time"
)

// TalkMode selects how the talk key starts and stops a transmission.
type TalkMode int

// Talk modes. The zero value is TalkAuto.
const (
	// TalkAuto is push-to-talk: held while the terminal reports the key
	// down, inferred from key repeat where it reports no key release.
	TalkAuto TalkMode = iota
	// TalkHold is push-to-talk like TalkAuto, chosen explicitly.
	TalkHold
	// TalkToggle starts talk on one press and stops it on the next.
	TalkToggle
)

// ParseTalkMode returns the TalkMode named by s: "auto", "hold" or
// "toggle". The empty string is TalkAuto.
func ParseTalkMode(s string) (TalkMode, error) {
	switch s {
	case "", "auto":
		return TalkAuto, nil
	case "hold":
		return TalkHold, nil
	case "toggle":
		return TalkToggle, nil
	}
	return 0, fmt.Errorf("invalid talk mode %q: use auto, hold or toggle", s)
}

// String returns the name ParseTalkMode accepts.
func (t TalkMode) String() string {
	switch t {
	case TalkHold:
		return "hold"
	case TalkToggle:
		return "toggle"
	}
	return "auto"
}

// Timing of inferred hold. Operating systems wait 250 to 660 ms before the
// first auto-repeat and then repeat every 25 to 50 ms, so the wait for the
// first repeat is longer than the wait for later ones.
const (
	firstRepeatTimeout = time.Second
	minRepeatTimeout   = 600 * time.Millisecond
	// toggleDebounce is how close together presses must be to count as
	// auto-repeat of a held key in toggle mode without key release events.
	toggleDebounce = 700 * time.Millisecond
)

// keyAction is the change to the transmission that a talk key event
// requests.
type keyAction int

const (
	keyNone keyAction = iota
	keyStart
	keyStop
)

// talkKey turns talk key presses and releases into starts and stops of
// a transmission. Its methods take the time of the event, so tests drive
// it with synthetic times.
type talkKey struct {
	mode     TalkMode
	releases bool // the terminal reports key release events

	active    bool          // the key requests talk now
	lastPress time.Time     // last press, repeats included
	repeats   int           // auto-repeat presses since talk started
	interval  time.Duration // smoothed interval between auto-repeats
}

// inferred reports whether the hold is inferred from key repeat.
func (k *talkKey) inferred() bool {
	return k.mode != TalkToggle && !k.releases
}

// label names the mode in effect for the status bar.
func (k *talkKey) label() string {
	switch {
	case k.mode == TalkToggle:
		return "toggle"
	case k.releases:
		return "hold (key release)"
	}
	return "hold (key repeat)"
}

// press handles a press of the talk key at now. A non-zero check requests
// a call of check after that duration.
func (k *talkKey) press(now time.Time, repeat bool) (act keyAction, check time.Duration) {
	switch {
	case k.mode == TalkToggle:
		return k.pressToggle(now, repeat), 0
	case k.releases:
		if repeat || k.active {
			return keyNone, 0
		}
		k.active = true
		return keyStart, 0
	}
	return k.pressInferred(now)
}

// pressToggle flips talk, ignoring auto-repeat of a held key.
func (k *talkKey) pressToggle(now time.Time, repeat bool) keyAction {
	if repeat {
		return keyNone
	}
	last := k.lastPress
	k.lastPress = now
	if !k.releases && !last.IsZero() && now.Sub(last) < toggleDebounce {
		return keyNone
	}
	k.active = !k.active
	if k.active {
		return keyStart
	}
	return keyStop
}

// pressInferred starts talk on the first press and counts every later
// press as auto-repeat, which keeps talk going.
func (k *talkKey) pressInferred(now time.Time) (keyAction, time.Duration) {
	if !k.active {
		k.active = true
		k.lastPress = now
		k.repeats = 0
		k.interval = 0
		return keyStart, firstRepeatTimeout
	}
	gap := now.Sub(k.lastPress)
	// The first gap is the repeat delay, not the repeat interval.
	if k.repeats > 0 {
		k.interval = smooth(k.interval, gap)
	}
	k.repeats++
	k.lastPress = now
	return keyNone, 0
}

// smooth folds sample into the running average avg with weight 1/4.
func smooth(avg, sample time.Duration) time.Duration {
	if avg == 0 {
		return sample
	}
	return avg + (sample-avg)/4
}

// timeout returns how long inferred hold waits for the next repeat.
func (k *talkKey) timeout() time.Duration {
	if k.repeats == 0 {
		return firstRepeatTimeout
	}
	return max(minRepeatTimeout, k.interval*3/2)
}

// check ends an inferred hold when no repeat arrived within the timeout.
// Otherwise it returns how long to wait before checking again.
func (k *talkKey) check(now time.Time) (keyAction, time.Duration) {
	if !k.active || !k.inferred() {
		return keyNone, 0
	}
	deadline := k.lastPress.Add(k.timeout())
	if !now.Before(deadline) {
		k.active = false
		return keyStop, 0
	}
	return keyNone, deadline.Sub(now)
}

// release handles a release of the talk key. Any release event shows the
// terminal reports them, so the hold is no longer inferred.
func (k *talkKey) release() keyAction {
	k.releases = true
	if k.mode == TalkToggle || !k.active {
		return keyNone
	}
	k.active = false
	return keyStop
}

// blur stops push-to-talk when the terminal loses focus, because the key
// release then goes to another window.
func (k *talkKey) blur() keyAction {
	if k.mode == TalkToggle || !k.active {
		return keyNone
	}
	k.active = false
	return keyStop
}

// reset clears the key state after talk ended for another reason.
func (k *talkKey) reset() {
	k.active = false
	k.repeats = 0
}
