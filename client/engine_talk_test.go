package client

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/relay"
)

func TestEngineTalkStopsAtMaxLength(t *testing.T) {
	sp := loadSpeech(t)
	srv := startRelay(t, relay.Config{MaxMessageDuration: time.Second})
	paths := engineUser(t, srv, "alice")
	engineUser(t, srv, "bob")
	// The microphone runs 20 times faster than real time.
	mic := newFakeMic(sp.pcm, time.Millisecond, 1)
	alice := startEngine(t, EngineOptions{Paths: paths, Relay: srv.Addr().String(),
		OpenCapture: func(string) (audio.FrameSource, error) { return mic, nil }, OpenPlayback: noSpeaker})
	if err := alice.StartTalk(proto.DirectConversation("alice", "bob")); err != nil {
		t.Fatalf("StartTalk: %v", err)
	}

	stopped := waitEvent(t, alice, EventTalkStopped)
	var maxLen *MaxLengthError
	if !errors.As(stopped.Err, &maxLen) {
		t.Fatalf("got EventTalkStopped error %v, want a *MaxLengthError", stopped.Err)
	}
	if maxLen.Max != time.Second {
		t.Errorf("got maximum length %v, want 1s", maxLen.Max)
	}
	if !strings.Contains(stopped.Err.Error(), "maximum message length of 1s") {
		t.Errorf("got error text %q, want it to name the maximum length", stopped.Err)
	}
	if stopped.Duration != time.Second {
		t.Errorf("got duration %v sent, want 1s", stopped.Duration)
	}
	stored := waitEvent(t, alice, EventMessageStored)
	if stored.MessageID != stopped.MessageID {
		t.Errorf("got stored message %s, want %s, the stopped talk's", stored.MessageID, stopped.MessageID)
	}
	if d := stored.Message.Duration; d < 900*time.Millisecond || d > time.Second {
		t.Errorf("got stored duration %v, want about 1s", d)
	}
	if alice.Status().Talking {
		t.Error("status shows talking after the engine stopped talk")
	}
}

func TestEngineCancelTalkStoresNothing(t *testing.T) {
	alice, bob, mic := startTalkPair(t, 10)

	conv := proto.DirectConversation("alice", "bob")
	if err := alice.StartTalk(conv); err != nil {
		t.Fatalf("StartTalk: %v", err)
	}
	started := waitEvent(t, bob, EventTalkStarted)
	<-mic.reached
	if err := alice.CancelTalk(); err != nil {
		t.Fatalf("CancelTalk: %v", err)
	}
	// The relay sends bob the talk's end after it has finished the
	// upload, so the list below is final.
	ended := waitEvent(t, bob, EventTalkEnded)
	if ended.MessageID != started.MessageID {
		t.Errorf("got talk end of %s, want %s", ended.MessageID, started.MessageID)
	}

	msgs, err := bob.Messages(t.Context(), conv)
	if err != nil {
		t.Fatalf("Messages: %v", err)
	}
	if len(msgs) != 0 {
		t.Errorf("got messages %+v after CancelTalk, want none", msgs)
	}
	for len(alice.Events()) > 0 {
		if ev := <-alice.Events(); ev.Kind == EventTalkFailed || ev.Kind == EventMessageStored || ev.Kind == EventTalkStopped {
			t.Errorf("got event kind %d for a cancelled talk, want none", ev.Kind)
		}
	}
	if err := alice.CancelTalk(); err != nil {
		t.Errorf("CancelTalk while not talking: %v", err)
	}
}

// bareEngine returns an Engine with no session or devices, for tests of
// methods that need neither.
func bareEngine(t *testing.T, opt EngineOptions) *Engine {
	t.Helper()
	return &Engine{opt: opt.withDefaults(), log: slog.New(slog.DiscardHandler), ctx: t.Context(),
		events: make(chan EngineEvent, 256)}
}

func TestEngineCheckMic(t *testing.T) {
	openErr := fmt.Errorf("%w: %q is not among the input devices %q", audio.ErrDeviceNotFound, "nosuch", "pulse")
	e := bareEngine(t, EngineOptions{CaptureDevice: "nosuch",
		OpenCapture: func(string) (audio.FrameSource, error) { return nil, openErr }})
	err := e.CheckMic()
	if !errors.Is(err, audio.ErrDeviceNotFound) {
		t.Fatalf("got %v, want an error wrapping ErrDeviceNotFound", err)
	}
	for _, want := range []string{"microphone unavailable", `"nosuch"`, "--mic NAME", "vm devices"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got error %q, want it to contain %q", err, want)
		}
	}
	if got := e.Status().MicError; got != err.Error() {
		t.Errorf("got MicError %q, want %q", got, err)
	}

	e.opt.OpenCapture = func(string) (audio.FrameSource, error) { return newFakeMic(nil, time.Millisecond, -1), nil }
	if err := e.CheckMic(); err != nil {
		t.Errorf("CheckMic with a working microphone: %v", err)
	}
	if got := e.Status().MicError; got != "" {
		t.Errorf("got MicError %q after a good check, want none", got)
	}
}

// sinePCM returns d of a 220 Hz tone at 48 kHz.
func sinePCM(d time.Duration) []float32 {
	pcm := make([]float32, int(d.Seconds()*proto.SampleRate))
	for i := range pcm {
		pcm[i] = float32(0.5 * math.Sin(2*math.Pi*220*float64(i)/proto.SampleRate))
	}
	return pcm
}

// playFrames plays p frame by frame with a clock 20 ms apart until it is
// done or frames have played, calling at(i) before frame i, and returns
// the samples played.
func playFrames(t *testing.T, p *storedPlayback, frames int, at func(i int)) []float32 {
	t.Helper()
	var out []float32
	buf := make([]float32, proto.FrameSamples)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range frames {
		at(i)
		ok, done := p.fill(now, buf)
		if ok {
			out = append(out, buf...)
		}
		if done {
			return out
		}
		now = now.Add(proto.FrameDuration)
	}
	t.Fatalf("playback not done after %d frames", frames)
	return nil
}

func TestPlaybackSpeedChangeApplies(t *testing.T) {
	src := sinePCM(4 * time.Second)
	second := proto.SampleRate
	tests := []struct {
		name        string
		start, next float64
		// want is the length played in samples: the first second at
		// start, the other three at next.
		want int
	}{
		{"1x to 2x", 1, 2, second + 3*second/2},
		{"2x to 1x", 2, 1, second/2 + 3*second},
		{"1.5x to 1.5x", 1.5, 1.5, 4 * second * 2 / 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := bareEngine(t, EngineOptions{})
			p := newStoredPlayback(e, "d.alice.bob", "m1", "bob", src, 4*time.Second, tt.start)
			e.playback = p
			// The change comes once the first second of the message has
			// played.
			switchAt := int(float64(second)/tt.start) / proto.FrameSamples
			out := playFrames(t, p, 1000, func(i int) {
				if i == switchAt {
					if err := e.SetPlaybackSpeed(tt.next); err != nil {
						t.Fatalf("SetPlaybackSpeed: %v", err)
					}
				}
			})
			// The stretchers' latency and a frame of rounding on each
			// side of the switch make up the tolerance.
			tolerance := 3 * proto.FrameSamples
			if d := len(out) - tt.want; d < -tolerance || d > tolerance {
				t.Errorf("played %d samples, want %d within %d", len(out), tt.want, tolerance)
			}
		})
	}
}

func TestPlaybackSpeedKeepsAudio(t *testing.T) {
	src := sinePCM(2 * time.Second)
	e := bareEngine(t, EngineOptions{})
	p := newStoredPlayback(e, "d.alice.bob", "m1", "bob", src, 2*time.Second, 1)
	out := playFrames(t, p, 1000, func(i int) {
		if i == 25 {
			p.setSpeed(2)
		}
	})
	// At 1x the start plays unchanged.
	for i := range 25 * proto.FrameSamples {
		if out[i] != src[i] {
			t.Fatalf("sample %d: got %g, want %g of the message at 1x", i, out[i], src[i])
		}
	}
	// After the change the tone goes on at its level, with no gap: each
	// 20 ms frame keeps most of the tone's RMS of 0.35.
	for f := 25; f < len(out)/proto.FrameSamples-1; f++ {
		frame := out[f*proto.FrameSamples : (f+1)*proto.FrameSamples]
		if rms := math.Pow(10, audio.LevelDBFS(frame)/20); rms < 0.25 {
			t.Errorf("frame %d: got RMS %.3f, want the tone's level of about 0.35", f, rms)
		}
	}
}

func TestSetPlaybackSpeedRejectsRange(t *testing.T) {
	e := bareEngine(t, EngineOptions{})
	for _, speed := range []float64{0.5, 2.5} {
		if err := e.SetPlaybackSpeed(speed); err == nil {
			t.Errorf("SetPlaybackSpeed(%g): got nil error, want one", speed)
		}
	}
	if err := e.SetPlaybackSpeed(1.5); err != nil {
		t.Errorf("SetPlaybackSpeed(1.5) with nothing playing: %v", err)
	}
}

// BenchmarkStoredPlaybackFill measures one 20 ms frame of a stored
// message stretched to 2x as it plays, the work the playout loop does
// per frame for it.
func BenchmarkStoredPlaybackFill(b *testing.B) {
	src := sinePCM(60 * time.Second)
	e := &Engine{log: slog.New(slog.DiscardHandler), ctx: b.Context(), events: make(chan EngineEvent, 1)}
	buf := make([]float32, proto.FrameSamples)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newStoredPlayback(e, "d.alice.bob", "m1", "bob", src, time.Minute, 2)
	for b.Loop() {
		if _, done := p.fill(now, buf); done {
			p = newStoredPlayback(e, "d.alice.bob", "m1", "bob", src, time.Minute, 2)
		}
		now = now.Add(proto.FrameDuration)
	}
}
