package tui

import (
	"testing"
	"time"
)

// keyStep is one talk key event at an offset from the start of a test.
type keyStep struct {
	at      time.Duration
	event   string // "press", "repeat", "release", "check", "blur", "interrupt"
	want    keyAction
	wantDue time.Duration // for press and check: requested check delay
}

func TestTalkKey(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		mode     TalkMode
		releases bool
		steps    []keyStep
	}{
		{"hold with release events", TalkAuto, true, []keyStep{
			{at: 0, event: "press", want: keyStart},
			{at: 500 * ms, event: "repeat", want: keyNone},
			{at: 530 * ms, event: "press", want: keyNone},
			{at: 2 * time.Second, event: "release", want: keyStop},
			{at: 3 * time.Second, event: "release", want: keyNone},
		}},
		{"hold ends on blur", TalkHold, true, []keyStep{
			{at: 0, event: "press", want: keyStart},
			{at: time.Second, event: "blur", want: keyStop},
		}},
		{"inferred hold first gap", TalkAuto, false, []keyStep{
			{at: 0, event: "press", want: keyStart, wantDue: firstRepeatTimeout},
			// The repeat delay of 660 ms is longer than the later timeout.
			{at: 660 * ms, event: "press", want: keyNone},
			{at: 700 * ms, event: "press", want: keyNone},
			{at: time.Second, event: "check", want: keyNone, wantDue: 300 * ms},
			{at: 1300 * ms, event: "check", want: keyStop},
		}},
		{"inferred hold tap", TalkAuto, false, []keyStep{
			{at: 0, event: "press", want: keyStart, wantDue: firstRepeatTimeout},
			{at: 999 * ms, event: "check", want: keyNone, wantDue: ms},
			// No repeat arrived: the key was tapped, not held.
			{at: time.Second, event: "check", want: keyDiscard},
			{at: 1100 * ms, event: "press", want: keyStart, wantDue: firstRepeatTimeout},
		}},
		{"inferred hold one repeat is kept", TalkAuto, false, []keyStep{
			{at: 0, event: "press", want: keyStart, wantDue: firstRepeatTimeout},
			{at: 500 * ms, event: "press", want: keyNone},
			{at: 1100 * ms, event: "check", want: keyStop},
		}},
		{"release tap", TalkHold, true, []keyStep{
			{at: 0, event: "press", want: keyStart},
			{at: 120 * ms, event: "release", want: keyDiscard},
			{at: time.Second, event: "press", want: keyStart},
			{at: time.Second + minTalkHold, event: "release", want: keyStop},
		}},
		{"blur right after press", TalkAuto, true, []keyStep{
			{at: 0, event: "press", want: keyStart},
			{at: 50 * ms, event: "blur", want: keyDiscard},
		}},
		{"toggle tap", TalkToggle, true, []keyStep{
			{at: 0, event: "press", want: keyStart},
			{at: 200 * ms, event: "press", want: keyDiscard},
			{at: 900 * ms, event: "press", want: keyStart},
			{at: 2 * time.Second, event: "press", want: keyStop},
		}},
		{"inferred repeats after interrupt", TalkAuto, false, []keyStep{
			{at: 0, event: "press", want: keyStart, wantDue: firstRepeatTimeout},
			{at: 500 * ms, event: "press", want: keyNone},
			{at: 600 * ms, event: "interrupt", want: keyNone},
			// The key is still held: its repeats do not start talk again.
			{at: 633 * ms, event: "press", want: keyNone},
			{at: 666 * ms, event: "press", want: keyNone},
			// A press after a gap longer than the repeat timeout is new.
			{at: 666*ms + minRepeatTimeout, event: "press", want: keyStart, wantDue: firstRepeatTimeout},
		}},
		{"inferred hold slow repeat", TalkHold, false, []keyStep{
			{at: 0, event: "press", want: keyStart, wantDue: firstRepeatTimeout},
			{at: 500 * ms, event: "press", want: keyNone},
			{at: 1000 * ms, event: "press", want: keyNone},
			{at: 1500 * ms, event: "press", want: keyNone},
			// The interval is 500 ms, so the timeout is 750 ms.
			{at: 2200 * ms, event: "check", want: keyNone, wantDue: 50 * ms},
			{at: 2250 * ms, event: "check", want: keyStop},
		}},
		{"inferred hold learns release", TalkAuto, false, []keyStep{
			{at: 0, event: "press", want: keyStart, wantDue: firstRepeatTimeout},
			{at: 300 * ms, event: "release", want: keyStop},
			{at: 400 * ms, event: "press", want: keyStart},
			{at: 2 * time.Second, event: "check", want: keyNone},
			{at: 3 * time.Second, event: "release", want: keyStop},
		}},
		{"toggle with release events", TalkToggle, true, []keyStep{
			{at: 0, event: "press", want: keyStart},
			{at: 500 * ms, event: "repeat", want: keyNone},
			{at: 600 * ms, event: "release", want: keyNone},
			{at: 800 * ms, event: "press", want: keyStop},
			{at: 900 * ms, event: "blur", want: keyNone},
		}},
		{"toggle ignores auto-repeat", TalkToggle, false, []keyStep{
			{at: 0, event: "press", want: keyStart},
			{at: 500 * ms, event: "press", want: keyNone},
			{at: 530 * ms, event: "press", want: keyNone},
			{at: 560 * ms, event: "press", want: keyNone},
			{at: 3 * time.Second, event: "press", want: keyStop},
			{at: 4 * time.Second, event: "check", want: keyNone},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := talkKey{mode: tt.mode, releases: tt.releases}
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, s := range tt.steps {
				got, due := applyStep(&k, t0.Add(s.at), s.event)
				if got != s.want {
					t.Errorf("step %d (%s at %v): got action %d, want %d", i, s.event, s.at, got, s.want)
				}
				if s.wantDue != 0 && due != s.wantDue {
					t.Errorf("step %d (%s at %v): got check after %v, want %v", i, s.event, s.at, due, s.wantDue)
				}
			}
		})
	}
}

// applyStep feeds one event to k.
func applyStep(k *talkKey, now time.Time, event string) (keyAction, time.Duration) {
	switch event {
	case "press":
		return k.press(now, false)
	case "repeat":
		return k.press(now, true)
	case "check":
		return k.check(now)
	case "release":
		return k.release(now), 0
	case "blur":
		return k.blur(now), 0
	case "interrupt":
		k.interrupt(now)
		return keyNone, 0
	}
	panic("unknown step " + event)
}

func TestTalkKeyTimeout(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		repeats  int
		interval time.Duration
		want     time.Duration
	}{
		{"before first repeat", 0, 0, firstRepeatTimeout},
		{"fast repeat", 5, 33 * ms, minRepeatTimeout},
		{"slow repeat", 5, 800 * ms, 1200 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := talkKey{repeats: tt.repeats, interval: tt.interval}
			if got := k.timeout(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseTalkMode(t *testing.T) {
	tests := []struct {
		in      string
		want    TalkMode
		wantErr bool
	}{
		{"", TalkAuto, false},
		{"auto", TalkAuto, false},
		{"hold", TalkHold, false},
		{"toggle", TalkToggle, false},
		{"push", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseTalkMode(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseTalkMode(%q): got error %v, want error %t", tt.in, err, tt.wantErr)
		}
		if err == nil && got != tt.want {
			t.Errorf("ParseTalkMode(%q): got %v, want %v", tt.in, got, tt.want)
		}
		if err == nil && tt.in != "" && got.String() != tt.in {
			t.Errorf("%v.String(): got %q, want %q", got, got.String(), tt.in)
		}
	}
}
