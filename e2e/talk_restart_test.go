package e2e

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/proto"
)

// speechMic is a microphone that plays pcm one frame per 20 ms and then
// silence. It closes reached once frame reachAt has been read, and spoken
// once all of pcm has.
type speechMic struct {
	pcm     []float32
	tick    *time.Ticker
	frames  atomic.Int64
	reachAt int64
	reached chan struct{}
	spoken  chan struct{}
}

func newSpeechMic(pcm []float32, reachAt int64) *speechMic {
	return &speechMic{pcm: pcm, tick: time.NewTicker(proto.FrameDuration), reachAt: reachAt,
		reached: make(chan struct{}), spoken: make(chan struct{})}
}

func (m *speechMic) Read(frame []float32) error {
	<-m.tick.C
	n := m.frames.Add(1)
	pos := int(n-1) * len(frame)
	copied := copy(frame, m.pcm[min(pos, len(m.pcm)):])
	clear(frame[copied:])
	if n == m.reachAt {
		close(m.reached)
	}
	if pos < len(m.pcm) && pos+len(frame) >= len(m.pcm) {
		close(m.spoken)
	}
	return nil
}

// Close does nothing, so the engine can open the microphone again.
func (m *speechMic) Close() error { return nil }

// TestTalkSurvivesRelayKill kills the relay with SIGKILL a second into a
// talk, restarts it on the same address and data directory, and checks
// that the whole talk is stored once.
func TestTalkSurvivesRelayKill(t *testing.T) {
	speech := loadSpeech(t, speechFile)
	dir := t.TempDir()
	data := filepath.Join(dir, "relay")
	relay := startRelay(t, data)
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")

	mic := newSpeechMic(speech.Samples, 50)
	eng, err := client.NewEngine(t.Context(), client.EngineOptions{
		Paths: config.Paths{Home: alice}, Relay: relay.Addr,
		OpenCapture:      func(string) (audio.FrameSource, error) { return mic, nil },
		OpenPlayback:     func(string) (audio.FrameSink, error) { return nil, audio.ErrNoOutputDevice },
		ReconnectBackoff: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	waitEngineEvent(t, eng, 20*time.Second, "connection", func(ev client.EngineEvent) bool {
		return ev.Kind == client.EventConnected
	})

	conv := proto.DirectConversation("alice", "bob")
	if err := eng.StartTalk(conv); err != nil {
		t.Fatalf("StartTalk: %v", err)
	}
	<-mic.reached
	relay.kill(t)
	relay = startRelayOn(t, data, relay.Addr)
	<-mic.spoken
	if err := eng.StopTalk(); err != nil {
		t.Fatalf("StopTalk: %v", err)
	}
	captured := time.Duration(mic.frames.Load()) * proto.FrameDuration

	kept := waitEngineEvent(t, eng, 60*time.Second, "kept talk", func(ev client.EngineEvent) bool {
		return ev.Kind == client.EventTalkKept || ev.Kind == client.EventTalkFailed
	})
	if kept.Kind != client.EventTalkKept {
		t.Fatalf("talk failed: %v", kept.Err)
	}
	stored := waitEngineEvent(t, eng, 60*time.Second, "stored message", func(ev client.EngineEvent) bool {
		return (ev.Kind == client.EventMessageStored && ev.MessageID == kept.MessageID) ||
			ev.Kind == client.EventTalkFailed
	})
	if stored.Kind == client.EventTalkFailed {
		t.Fatalf("kept talk not stored: %v", stored.Err)
	}

	files := fetchFiles(t, bob, filepath.Join(dir, "inbox"), "--all")
	if len(files) != 1 {
		t.Fatalf("bob fetched %v, want the one message %s", files, kept.MessageID)
	}
	if id := messageID(files[0]); id != kept.MessageID {
		t.Errorf("got message %s, want %s", id, kept.MessageID)
	}
	d, err := decodedLength(files[0])
	if err != nil {
		t.Fatalf("decode stored talk: %v", err)
	}
	// The stored length lacks the encoder's pre-skip of a few
	// milliseconds.
	if diff := captured - d; diff < 0 || diff > 2*proto.FrameDuration {
		t.Errorf("stored talk lasts %v, want the %v captured within two frames", d, captured)
	}
}
