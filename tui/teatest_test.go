package tui

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/vm-voice/vm/client"
)

// waitOutput waits until the program's output since the last wait
// contains want.
func waitOutput(t *testing.T, tm *teatest.TestModel, want string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte(want))
	}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

func TestProgram(t *testing.T) {
	fake := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := New(ctx, fake, Options{TalkMode: TalkToggle, Relay: "127.0.0.1:4433", Handle: "alice"})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30))

	// The conversations are listed.
	waitOutput(t, tm, "#ops")

	// carol talks in #ops, which is not open: its row gets the mark.
	fake.mu.Lock()
	fake.convs[1].Talking = []string{"carol"}
	fake.mu.Unlock()
	fake.events <- client.EngineEvent{Kind: client.EventTalkStarted, Conversation: "c.ops", Handle: "carol", MessageID: "o3"}
	waitOutput(t, tm, talkMark)

	// A message from bob arrives in the open conversation.
	at := time.Date(2026, 3, 14, 9, 3, 0, 0, time.UTC)
	stored := client.MessageState{ID: "m4", Conversation: "d.alice.bob", Sender: "bob", Time: at, Duration: 5 * time.Second}
	fake.events <- client.EngineEvent{Kind: client.EventMessageStored, Message: &stored}
	waitOutput(t, tm, "new message from @bob")

	// Space starts talk and, in toggle mode, the next space stops it.
	tm.Send(press("space"))
	waitOutput(t, tm, "TALK")
	tm.Send(press("space"))
	tm.Send(press("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))

	out, err := readAll(tm.FinalOutput(t))
	if err != nil {
		t.Fatal(err)
	}
	// Leaving the alternate screen restores what the terminal showed.
	if !bytes.Contains(out, []byte("\x1b[?1049l")) {
		t.Errorf("final output does not leave the alternate screen: %q", tail(out))
	}
	final := tm.FinalModel(t).(Model)
	if i := final.messageIndex("m4"); i < 0 {
		t.Errorf("m4 missing from the final timeline")
	}
	if got := final.convs[1].Talking; !slices.Equal(got, []string{"carol"}) {
		t.Errorf("got #ops talking %q, want [carol]", got)
	}
	if got := fake.takeCalls(); !slices.Equal(got, []string{"check mic", "start d.alice.bob", "stop"}) {
		t.Errorf("got calls %q, want the microphone check, start and stop", got)
	}
}

func readAll(r interface{ Read([]byte) (int, error) }) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

// tail returns the last 200 bytes of b.
func tail(b []byte) []byte {
	return b[max(len(b)-200, 0):]
}

func TestRunClosesBackend(t *testing.T) {
	fake := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var in, out bytes.Buffer
	err := Run(ctx, fake, Options{}, tea.WithInput(&in), tea.WithOutput(&out), tea.WithoutSignals())
	if err != nil {
		t.Errorf("got error %v, want nil after the context ended", err)
	}
	if !fake.closed {
		t.Error("Run did not close the backend")
	}
}
