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
	// minTalkHold is the shortest talk that is sent. A talk ended sooner
	// is a tap of the key and is discarded.
	minTalkHold = 300 * time.Millisecond
)

// keyAction is the change to the transmission that a talk key event
// requests.
type keyAction int

const (
	keyNone    keyAction = iota
	keyStart             // start talking
	keyStop              // stop talking and store the message
	keyDiscard           // stop talking and discard the message: the key was only tapped
)

// talkKey turns talk key presses and releases into starts and stops of
// a transmission. Its methods take the time of the event, so tests drive
// it with synthetic times.
//
// A tap of the key sends nothing, because a user who taps a
// walkie-talkie's key does not mean to leave a message of silence. A tap
// is a talk ended less than minTalkHold after it started. Where the hold
// is inferred from key repeat, a talk that saw no repeat is a tap too.
// The terminal then reports only the press, so the UI cannot tell a
// 0.1 s tap from a hold shorter than the repeat delay. It waits
// firstRepeatTimeout before it ends such a talk, so storing it would
// leave a message of about a second of silence.
type talkKey struct {
	mode     TalkMode
	releases bool // the terminal reports key release events

	active     bool          // the key requests talk now
	startedAt  time.Time     // when the key started the current talk
	lastPress  time.Time     // last press, repeats included
	repeats    int           // auto-repeat presses since talk started
	interval   time.Duration // smoothed interval between auto-repeats
	suppressed bool          // ignore inferred repeats until the key is released
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
		k.startedAt = now
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
	if k.active {
		act := k.endAction(now)
		k.active = false
		return act
	}
	k.active = true
	k.startedAt = now
	return keyStart
}

// pressInferred starts talk on the first press and counts every later
// press as auto-repeat, which keeps talk going.
func (k *talkKey) pressInferred(now time.Time) (keyAction, time.Duration) {
	if k.suppressed {
		// Repeats of the key held while talk ended: a gap longer than
		// the repeat timeout shows it was released and pressed again.
		gap := now.Sub(k.lastPress)
		k.lastPress = now
		if gap < minRepeatTimeout {
			return keyNone, 0
		}
		k.suppressed = false
	}
	if !k.active {
		k.active = true
		k.startedAt = now
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
		act := k.endAction(now)
		k.active = false
		return act, 0
	}
	return keyNone, deadline.Sub(now)
}

// endAction returns how the talk that the key ends at now ends: discarded
// when it was a tap, else stored.
func (k *talkKey) endAction(now time.Time) keyAction {
	if now.Sub(k.startedAt) < minTalkHold || (k.inferred() && k.repeats == 0) {
		return keyDiscard
	}
	return keyStop
}

// release handles a release of the talk key at now. Any release event
// shows the terminal reports them, so the hold is no longer inferred.
func (k *talkKey) release(now time.Time) keyAction {
	k.releases = true
	k.suppressed = false
	if k.mode == TalkToggle || !k.active {
		return keyNone
	}
	act := k.endAction(now)
	k.active = false
	return act
}

// blur stops push-to-talk when the terminal loses focus at now, because
// the key release then goes to another window.
func (k *talkKey) blur(now time.Time) keyAction {
	if k.mode == TalkToggle || !k.active {
		return keyNone
	}
	act := k.endAction(now)
	k.active = false
	return act
}

// interrupt clears the key state at now after talk ended for another
// reason than the key, such as the engine or a missing microphone. Where
// the hold is inferred, the key may still be held, so its repeats must
// not start talk again until it is released.
func (k *talkKey) interrupt(now time.Time) {
	k.reset()
	if k.inferred() {
		k.suppressed = true
		k.lastPress = now
	}
}

// reset clears the key state.
func (k *talkKey) reset() {
	k.active = false
	k.repeats = 0
	k.suppressed = false
}
