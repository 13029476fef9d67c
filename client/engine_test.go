package client

import (
	"bytes"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/audio/oggopus"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/internal/lossproxy"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/relay"
)

// fakeMic plays pcm as a microphone would, one frame per tick, then
// silence. It closes reached once frame reachedAt has been read.
type fakeMic struct {
	pcm       []float32
	pos       int
	tick      *time.Ticker
	reachedAt int
	reached   chan struct{}
	spoken    chan struct{} // closed once all of pcm has been read
}

func newFakeMic(pcm []float32, tick time.Duration, reachedAt int) *fakeMic {
	return &fakeMic{pcm: pcm, tick: time.NewTicker(tick), reachedAt: reachedAt,
		reached: make(chan struct{}), spoken: make(chan struct{})}
}

func (m *fakeMic) Read(frame []float32) error {
	<-m.tick.C
	n := copy(frame, m.pcm[min(m.pos, len(m.pcm)):])
	clear(frame[n:])
	m.pos += len(frame)
	if m.pos/proto.FrameSamples == m.reachedAt {
		close(m.reached)
	}
	if m.pos >= len(m.pcm) && m.pos < len(m.pcm)+len(frame) {
		close(m.spoken)
	}
	return nil
}

// Close does nothing, because the engine opens the microphone once to
// probe it before the test talks.
func (m *fakeMic) Close() error { return nil }

// fakeSpeaker records what it plays, one frame per 20 ms.
type fakeSpeaker struct {
	tick *time.Ticker
	mu   sync.Mutex
	pcm  []float32
}

func (s *fakeSpeaker) Write(frame []float32) error {
	<-s.tick.C
	s.mu.Lock()
	s.pcm = append(s.pcm, frame...)
	s.mu.Unlock()
	return nil
}

func (s *fakeSpeaker) Close() error { s.tick.Stop(); return nil }

func (s *fakeSpeaker) played() []float32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]float32(nil), s.pcm...)
}

// engineUser makes a home directory with an identity registered as
// handle on srv.
func engineUser(t testing.TB, srv *relay.Server, handle string) config.Paths {
	t.Helper()
	u := newUser(t)
	u.connect(t, srv, handle)
	home := t.TempDir()
	if err := u.id.Save(home, false); err != nil {
		t.Fatal(err)
	}
	return config.Paths{Home: home}
}

// startEngine starts an engine and waits until it is connected.
func startEngine(t testing.TB, opt EngineOptions) *Engine {
	t.Helper()
	e, err := NewEngine(t.Context(), opt)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	waitEvent(t, e, EventConnected)
	return e
}

// waitEvent returns the next event of kind from e, skipping others.
func waitEvent(t testing.TB, e *Engine, kind EventKind) EngineEvent {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-e.Events():
			if ev.Kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event of kind %d within 30s", kind)
		}
	}
}

func noMic(string) (audio.FrameSource, error)   { return nil, audio.ErrNoInputDevice }
func noSpeaker(string) (audio.FrameSink, error) { return nil, audio.ErrNoOutputDevice }

func TestEngineLateJoinerHearsFromStart(t *testing.T) {
	sp := loadSpeech(t)
	srv := startLiveRelay(t)
	addr := srv.Addr().String()
	alicePaths := engineUser(t, srv, "alice")
	bobPaths := engineUser(t, srv, "bob")

	mic := newFakeMic(sp.pcm, proto.FrameDuration, 50)
	alice := startEngine(t, EngineOptions{Paths: alicePaths, Relay: addr,
		OpenCapture: func(string) (audio.FrameSource, error) { return mic, nil }, OpenPlayback: noSpeaker})
	if err := alice.StartTalk(proto.DirectConversation("alice", "bob")); err != nil {
		t.Fatalf("StartTalk: %v", err)
	}
	<-mic.reached // one second into the transmission

	speaker := &fakeSpeaker{tick: time.NewTicker(proto.FrameDuration)}
	liveDone := make(chan livePlayerStats, 1)
	// The speaker opens only after the engine learned of the talk, as a
	// slow PortAudio device does.
	speakerReady := make(chan struct{})
	openSpeaker := func(string) (audio.FrameSink, error) {
		select {
		case <-speakerReady:
		case <-time.After(10 * time.Second):
		}
		return speaker, nil
	}
	bob := startEngine(t, EngineOptions{Paths: bobPaths, Relay: addr, AutoPlayLive: true, OpenCapture: noMic,
		OpenPlayback:    openSpeaker,
		liveDoneForTest: func(_ string, st livePlayerStats) { liveDone <- st }})
	started := waitEvent(t, bob, EventTalkStarted)
	close(speakerReady)
	if started.Handle != "alice" {
		t.Errorf("got talker %q, want alice", started.Handle)
	}
	<-mic.spoken
	if err := alice.StopTalk(); err != nil {
		t.Fatalf("StopTalk: %v", err)
	}
	waitEvent(t, bob, EventTalkEnded)
	select {
	case st := <-liveDone:
		t.Logf("live player: %+v", st)
	case <-time.After(30 * time.Second):
		t.Fatal("live playback did not end within 30s")
	}
	// Catch-up playback counts as hearing the talk.
	if heard := waitEvent(t, alice, EventListened); heard.Handle != "bob" || heard.MessageID != started.MessageID {
		t.Errorf("got receipt from @%s for %s, want @bob for %s", heard.Handle, heard.MessageID, started.MessageID)
	}

	got := speaker.played()
	t.Logf("played %s of %s of speech", SamplesDuration(int64(len(got))), SamplesDuration(int64(len(sp.pcm))))
	// The backlog plays faster, so only the live tail keeps its timing:
	// the last two seconds spoken must end the playback. Each window is
	// compared with one of about its own length, since the correlation is
	// normalized by the energy of both.
	second := proto.SampleRate
	tail := sp.pcm[len(sp.pcm)-2*second:]
	gotTail := got[max(0, len(got)-5*second/2):]
	// The live player may drop a frame or two to shrink its delay after
	// the handover, so segments align on their own.
	if corr := audio.SegmentCorrelation(tail, gotTail, proto.SampleRate, 0.2, 0.5); corr < 0.8 {
		t.Errorf("got correlation %.3f of the last 2 s with the end of playback, want at least 0.8", corr)
	}
	// The first second, spoken before bob was online, must start the
	// playback, shortened and sped up as the catch-up does it.
	head := stretchPCM(shortenSilences(sp.pcm[:second], catchUpMaxGap), catchUpSpeed)
	gotHead := got[:min(len(got), len(head)+second/4)]
	// The decoded speech lags the original by the Opus delay, so WSOLA
	// picks other segments from it than from the original, and the two
	// stretches match only loosely (0.59 here). Playback that lacked the
	// beginning scored below 0.25.
	corr := audio.SegmentCorrelation(head, gotHead, proto.SampleRate, 0.1, 0.25)
	t.Logf("correlation of the first second with the start of playback: %.3f", corr)
	if corr < 0.45 {
		t.Errorf("got correlation %.3f of the first second with the start of playback, want at least 0.45", corr)
	}
}

func TestEngineRepairsLossyLiveCopy(t *testing.T) {
	sp := loadSpeech(t)
	srv := startLiveRelay(t)
	proxy, err := lossproxy.Start(t.Context(), lossproxy.Config{Target: srv.Addr().String(), Loss: 0.2, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	alicePaths := engineUser(t, srv, "alice")
	bobPaths := engineUser(t, srv, "bob")

	repaired := make(chan int, 1)
	bob := startEngine(t, EngineOptions{Paths: bobPaths, Relay: proxy.Addr().String(), OpenCapture: noMic,
		OpenPlayback:    noSpeaker,
		repairedForTest: func(_ string, filled int) { repaired <- filled }})
	mic := newFakeMic(sp.pcm, time.Millisecond, 1)
	alice := startEngine(t, EngineOptions{Paths: alicePaths, Relay: srv.Addr().String(),
		OpenCapture: func(string) (audio.FrameSource, error) { return mic, nil }, OpenPlayback: noSpeaker})
	if err := alice.StartTalk(proto.DirectConversation("alice", "bob")); err != nil {
		t.Fatalf("StartTalk: %v", err)
	}
	started := waitEvent(t, bob, EventTalkStarted)
	<-mic.spoken
	alice.StopTalk()
	var filled int
	select {
	case filled = <-repaired:
	case <-time.After(60 * time.Second):
		t.Fatal("live copy not repaired within 60s")
	}
	if filled == 0 {
		t.Errorf("got 0 frames filled at 20%% loss, want some")
	}

	local, err := oggopusFile(bob.cachePath(started.MessageID))
	if err != nil {
		t.Fatalf("read repaired copy: %v", err)
	}
	s, _ := bob.session()
	_, blob, err := s.Conn().Fetch(t.Context(), started.Conversation, started.MessageID)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	stored, err := oggopus.Read(bytes.NewReader(blob), int64(len(blob)))
	if err != nil {
		t.Fatal(err)
	}
	if len(local.Packets) != len(stored.Packets) {
		t.Fatalf("got %d packets in the repaired copy, want %d", len(local.Packets), len(stored.Packets))
	}
	for i := range local.Packets {
		if !bytes.Equal(local.Packets[i], stored.Packets[i]) {
			t.Errorf("packet %d of the repaired copy differs from the stored one", i)
		}
	}
}

// startTalkPair starts an in-process relay and two engines without
// speakers: alice, whose fake microphone plays the speech sample and
// reports reaching frame reachAt, and bob, who has no microphone.
func startTalkPair(t *testing.T, reachAt int) (alice, bob *Engine, mic *fakeMic) {
	t.Helper()
	sp := loadSpeech(t)
	srv := startLiveRelay(t)
	addr := srv.Addr().String()
	alicePaths := engineUser(t, srv, "alice")
	bobPaths := engineUser(t, srv, "bob")
	bob = startEngine(t, EngineOptions{Paths: bobPaths, Relay: addr, OpenCapture: noMic, OpenPlayback: noSpeaker})
	mic = newFakeMic(sp.pcm, proto.FrameDuration, reachAt)
	alice = startEngine(t, EngineOptions{Paths: alicePaths, Relay: addr,
		OpenCapture: func(string) (audio.FrameSource, error) { return mic, nil }, OpenPlayback: noSpeaker})
	return alice, bob, mic
}

func TestEngineListsFirstLiveConversation(t *testing.T) {
	alice, bob, _ := startTalkPair(t, 1)

	// alice and bob have no stored message, so only the live talk makes
	// the conversation.
	conv := proto.DirectConversation("alice", "bob")
	if err := alice.StartTalk(conv); err != nil {
		t.Fatalf("StartTalk: %v", err)
	}
	defer alice.StopTalk()
	waitEvent(t, bob, EventTalkStarted)
	convs, err := bob.Conversations(t.Context())
	if err != nil {
		t.Fatalf("Conversations: %v", err)
	}
	if len(convs) != 1 {
		t.Fatalf("got conversations %+v, want only %s", convs, conv)
	}
	if got := convs[0]; got.ID != conv || got.Display != "@alice" {
		t.Errorf("got conversation %s shown as %q, want %s shown as @alice", got.ID, got.Display, conv)
	}
	if got := convs[0].Talking; len(got) != 1 || got[0] != "alice" {
		t.Errorf("got talking %q, want [alice]", got)
	}
}

func TestEngineWithoutAudioDevices(t *testing.T) {
	srv := startLiveRelay(t)
	paths := engineUser(t, srv, "carol")
	e := startEngine(t, EngineOptions{Paths: paths, Relay: srv.Addr().String(), OpenCapture: noMic,
		OpenPlayback: noSpeaker})
	if err := e.StartTalk(proto.ChannelConversation("ops")); err == nil {
		t.Error("StartTalk without a microphone: got nil error, want one")
	}
	deadline := time.Now().Add(5 * time.Second)
	for st := e.Status(); st.SpeakerError == "" || st.MicError == ""; st = e.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("got status %+v, want MicError and SpeakerError set", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := e.Conversations(t.Context()); err != nil {
		t.Errorf("Conversations without audio devices: %v", err)
	}
}

// oggopusFile reads an Ogg Opus file.
func oggopusFile(path string) (*oggopus.File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return oggopus.Read(bytes.NewReader(b), int64(len(b)))
}
