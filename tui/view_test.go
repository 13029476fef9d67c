package tui

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/vm-voice/vm/client"
)

// updateGolden reports whether -update was given. The flag is defined by
// github.com/charmbracelet/x/exp/golden, which teatest imports, so this
// package reads it rather than defining it again.
func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func TestViewGolden(t *testing.T) {
	tests := []struct {
		name          string
		width, height int
		setup         func(h *harness)
	}{
		{"idle", 80, 24, func(*harness) {}},
		{"idle", 120, 40, func(*harness) {}},
		{"talking", 80, 24, func(h *harness) {
			h.send(tea.KeyboardEnhancementsMsg{Flags: 0b11})
			h.send(press("space"))
			h.advance(3 * time.Second)
			h.fake.status.InputLevel = -18
			h.send(statusMsg{h.fake.Status(), h.clock})
			h.event(client.EngineEvent{Kind: client.EventTalkStarted, Conversation: "c.ops", Handle: "carol", MessageID: "o3"})
		}},
		{"live", 120, 40, func(h *harness) {
			h.send(press("tab"))
			h.send(press("2"))
			h.send(press("z"))
			h.send(press("a"))
			h.event(client.EngineEvent{Kind: client.EventTalkStarted, Conversation: "d.alice.bob", Handle: "bob", MessageID: "m4"})
			h.advance(4 * time.Second)
			h.event(client.EngineEvent{Kind: client.EventPlaybackStarted, Conversation: "d.alice.bob", MessageID: "m2", Duration: 12 * time.Second})
			h.event(client.EngineEvent{Kind: client.EventPlaybackProgress, MessageID: "m2", Position: 5 * time.Second, Duration: 12 * time.Second})
		}},
		{"no-devices", 80, 24, func(h *harness) {
			h.fake.status.MicError = "no microphone found: plug one in or pass --mic NAME (vm devices lists them)"
			h.fake.status.SpeakerError = "no audio output device: check that PulseAudio or ALSA is running"
			h.fake.status.Connected = false
			h.send(statusMsg{h.fake.Status(), h.clock})
		}},
		{"small", 39, 11, func(*harness) {}},
		{"help", 80, 24, func(h *harness) { h.send(press("?")) }},
		{"help", 40, 12, func(h *harness) { h.send(press("?")) }},
		{"no-devices", 40, 12, func(h *harness) {
			h.fake.status.MicError = "microphone unavailable: no audio input device: connect a microphone, or check that PulseAudio or ALSA is running (vm devices lists what PortAudio sees)"
			h.fake.status.SpeakerError = "speaker unavailable: no audio output device: connect a speaker or headphones, or check that PulseAudio or ALSA is running (vm devices lists what PortAudio sees)"
			h.send(statusMsg{h.fake.Status(), h.clock})
		}},
		{"many", 80, 24, func(h *harness) {
			t0 := time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)
			var msgs []client.MessageState
			for i := range 40 {
				msgs = append(msgs, client.MessageState{ID: string(rune('a' + i)), Conversation: "d.alice.bob",
					Sender: "bob", Time: t0.Add(time.Duration(i) * time.Minute), Duration: time.Duration(i) * time.Second,
					Listened: i < 30})
			}
			h.send(msgsMsg{conv: "d.alice.bob", msgs: msgs})
		}},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s-%dx%d", tt.name, tt.width, tt.height)
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, TalkAuto, tt.width, tt.height)
			tt.setup(h)
			got := h.screen()
			checkSize(t, got, tt.width, tt.height)
			checkGolden(t, filepath.Join("testdata", name+".golden"), got)
		})
	}
}

// checkSize checks that a full-size screen has height lines of width
// cells, so a resize leaves nothing of the previous frame behind.
func checkSize(t *testing.T, screen string, width, height int) {
	t.Helper()
	if width < minWidth || height < minHeight {
		return
	}
	lines := strings.Split(screen, "\n")
	if len(lines) != height {
		t.Errorf("got %d lines, want %d", len(lines), height)
	}
	for i, l := range lines {
		if w := len([]rune(l)); w != width {
			t.Errorf("line %d: got width %d, want %d: %q", i, w, width, l)
		}
	}
}

// checkGolden compares got with the golden file, or rewrites the file
// with -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if updateGolden() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("view differs from %s (run go test -update after checking it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// shortHelpItems are the entries of the one-line help as they read.
var shortHelpItems = []string{"space hold to talk", "↑↓/jk move", "tab pane", "enter play", "s stop",
	"+/- speed", "z skip silence", "a auto-next", "t talk mode", "r refresh", "q quit", "? all keys"}

func TestShortHelpFitsWidth(t *testing.T) {
	full := strings.Join(shortHelpItems, " • ")
	for width := minWidth; width <= 200; width++ {
		h := newHarness(t, TalkAuto, width, 24)
		lines := strings.Split(h.screen(), "\n")
		line := strings.TrimRight(lines[len(lines)-1], " ")
		if w := ansi.StringWidth(line); w > width {
			t.Errorf("width %d: help line is %d cells wide: %q", width, w, line)
		}
		// Every entry shown is whole, so the line splits into known ones.
		for _, item := range strings.Split(line, " • ") {
			if !slices.Contains(shortHelpItems, item) {
				t.Errorf("width %d: help line has the cut or unknown entry %q: %q", width, item, line)
			}
		}
		for _, item := range []string{"space hold to talk", "q quit", "? all keys"} {
			if !strings.Contains(line, item) {
				t.Errorf("width %d: help line lacks %q: %q", width, item, line)
			}
		}
		if width >= ansi.StringWidth(full) && line != full {
			t.Errorf("width %d: got help line %q, want every key: %q", width, line, full)
		}
	}
}

func TestFullHelpListsEachKeyOnce(t *testing.T) {
	keys := []string{"space", "t", "?", "q", "↑/k", "↓/j", "tab", "r", "enter", "s", "a", "z", "+", "-", "1", "2", "3"}
	for _, size := range [][2]int{{40, 12}, {60, 20}, {80, 24}, {120, 40}} {
		width, height := size[0], size[1]
		h := newHarness(t, TalkAuto, width, height)
		h.send(press("?"))
		var lines []string
		for _, row := range h.m.fullHelpRows(width) {
			lines = append(lines, row...)
		}
		count := map[string]int{}
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > width {
				t.Errorf("%dx%d: full help line is %d cells wide: %q", width, height, w, ansi.Strip(l))
			}
			for _, tok := range strings.Fields(ansi.Strip(l)) {
				count[tok]++
			}
		}
		for _, k := range keys {
			if count[k] != 1 {
				t.Errorf("%dx%d: key %q listed %d times, want once:\n%s", width, height, k, count[k], ansi.Strip(strings.Join(lines, "\n")))
			}
		}
		checkSize(t, h.screen(), width, height)
	}
}

func TestViewTooSmallWrapsItsMessage(t *testing.T) {
	for _, size := range [][2]int{{30, 10}, {12, 20}, {39, 11}} {
		h := newHarness(t, TalkAuto, size[0], size[1])
		screen := h.screen()

		for i, line := range strings.Split(screen, "\n") {
			if w := ansi.StringWidth(line); w > size[0] {
				t.Errorf("%dx%d: line %d is %d cells wide, want at most %d: %q", size[0], size[1], i, w, size[0], line)
			}
		}
		if flat := strings.Join(strings.Fields(screen), " "); !strings.Contains(flat, fmt.Sprintf("vm needs at least %dx%d", minWidth, minHeight)) {
			t.Errorf("%dx%d: got %q, want it to name the %dx%d that vm needs", size[0], size[1], screen, minWidth, minHeight)
		}
	}
}
