package client

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/internal/lossproxy"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/relay"
)

// restartableRelay is an in-process relay that a test stops and starts
// again on the same address and data directory, as an upgrade does.
type restartableRelay struct {
	t      *testing.T
	cfg    relay.Config
	srv    *relay.Server
	cancel context.CancelFunc
	done   chan struct{}
}

func startRestartableRelay(t *testing.T) *restartableRelay {
	t.Helper()
	r := &restartableRelay{t: t, cfg: relay.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()}}
	r.start()
	r.cfg.Listen = r.srv.Addr().String()
	t.Cleanup(r.stop)
	return r
}

// start runs the relay. Stopping waits for Run to return, so the port is
// free again by then.
func (r *restartableRelay) start() {
	r.t.Helper()
	srv, err := relay.New(r.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		r.t.Fatalf("relay.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Run(ctx); err != nil {
			r.t.Errorf("relay Run: %v", err)
		}
	}()
	r.srv, r.cancel, r.done = srv, cancel, done
}

// stop shuts the relay down as SIGTERM does and waits until it has.
func (r *restartableRelay) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

// keptTalkEngine starts an engine for paths whose fake microphone plays
// the speech sample at twice real time and reports reaching frame
// reachAt.
func keptTalkEngine(t *testing.T, r *restartableRelay, paths config.Paths, sp *liveSpeech, reachAt int) (*Engine, *fakeMic) {
	t.Helper()
	mic := newFakeMic(sp.pcm, proto.FrameDuration/2, reachAt)
	e := startEngine(t, EngineOptions{Paths: paths, Relay: r.cfg.Listen, OpenPlayback: noSpeaker,
		OpenCapture:      func(string) (audio.FrameSource, error) { return mic, nil },
		ReconnectBackoff: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}})
	return e, mic
}

// waitKept waits for EventTalkKept and checks its error and text.
func waitKept(t *testing.T, e *Engine) EngineEvent {
	t.Helper()
	ev := waitEvent(t, e, EventTalkKept)
	var kept *TalkKeptError
	if !errors.As(ev.Err, &kept) {
		t.Fatalf("got EventTalkKept error %v, want a *TalkKeptError", ev.Err)
	}
	const want = "relay connection lost: keeping your message, it will be sent when the relay is back"
	if ev.Err.Error() != want {
		t.Errorf("got EventTalkKept text %q, want %q", ev.Err, want)
	}
	if kept.Cause == nil {
		t.Error("got EventTalkKept without the upload's error as Cause")
	}
	return ev
}

// waitStored waits for EventMessageStored of message id.
func waitStored(t *testing.T, e *Engine, id string) EngineEvent {
	t.Helper()
	for {
		ev := waitEvent(t, e, EventMessageStored)
		if ev.MessageID == id {
			return ev
		}
	}
}

// checkStoredTalk fetches message id of conv through e and checks that it
// is stored once and contains all the frames captured: the first frames
// of the speech sample sp.
func checkStoredTalk(t *testing.T, e *Engine, conv, id string, sp *liveSpeech, frames int) {
	t.Helper()
	s, err := e.session()
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.Messages(t.Context(), conv)
	if err != nil {
		t.Fatalf("Messages: %v", err)
	}
	if len(msgs) != 1 || msgs[0].ID != id {
		t.Errorf("got messages %+v, want only %s", msgs, id)
	}

	_, blob, err := s.Conn().Fetch(t.Context(), conv, id)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	pcm, err := audio.DecodeOggOpus(bytes.NewReader(blob), int64(len(blob)))
	if err != nil {
		t.Fatalf("decode stored message: %v", err)
	}
	captured := time.Duration(frames)*proto.FrameDuration - SamplesDuration(int64(sp.preSkip))
	if d := pcm.Duration() - captured; d < -2*proto.FrameDuration || d > 2*proto.FrameDuration {
		t.Errorf("stored message lasts %v, want the %v captured within two frames", pcm.Duration(), captured)
	}

	// The speech from 1 s to 4 s was captured after the relay went away,
	// so only the kept copy has it. Its level shows it is there rather
	// than silence.
	from, to := proto.SampleRate, 4*proto.SampleRate
	if len(pcm.Samples) < to {
		return
	}
	want := audio.LevelDBFS(sp.pcm[from:to])
	got := audio.LevelDBFS(pcm.Samples[from:to])
	if got < want-3 || got > want+3 {
		t.Errorf("stored message from 1 s to 4 s: got level %.1f dBFS, want the speech's %.1f within 3 dB", got, want)
	}
}

// waitOutboxEmpty waits until the outbox of home has no entries.
func waitOutboxEmpty(t *testing.T, home string) {
	t.Helper()
	ob := outbox{dir: filepath.Join(home, OutboxDir)}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids, err := ob.list()
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still contains %v 10s after the message was stored", ids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// interruptedTalk is a talk from alice to bob whose relay stopped while
// alice was talking.
type interruptedTalk struct {
	relay *restartableRelay
	paths config.Paths // alice's
	sp    *liveSpeech
	alice *Engine
	mic   *fakeMic
	conv  string
	kept  EngineEvent // the EventTalkKept of the talk
}

// startInterruptedTalk starts alice talking to bob, stops the relay 25
// frames in and waits for EventTalkKept. prepare, unless nil, runs on
// alice's paths before her engine starts.
func startInterruptedTalk(t *testing.T, prepare func(config.Paths)) *interruptedTalk {
	t.Helper()
	it := &interruptedTalk{sp: loadSpeech(t), relay: startRestartableRelay(t), conv: proto.DirectConversation("alice", "bob")}
	it.paths = engineUser(t, it.relay.srv, "alice")
	engineUser(t, it.relay.srv, "bob")
	if prepare != nil {
		prepare(it.paths)
	}
	it.alice, it.mic = keptTalkEngine(t, it.relay, it.paths, it.sp, 25)
	if err := it.alice.StartTalk(it.conv); err != nil {
		t.Fatalf("StartTalk: %v", err)
	}
	<-it.mic.reached
	it.relay.stop()
	it.kept = waitKept(t, it.alice)
	return it
}

func TestEngineTalkSurvivesRelayRestart(t *testing.T) {
	it := startInterruptedTalk(t, nil)
	alice, mic, kept := it.alice, it.mic, it.kept
	if !alice.Status().Talking {
		t.Error("status shows talk ended after the live upload failed, want capture to go on")
	}
	it.relay.start()
	<-mic.spoken
	if err := alice.StopTalk(); err != nil {
		t.Fatalf("StopTalk: %v", err)
	}
	frames := mic.pos / proto.FrameSamples

	stored := waitStored(t, alice, kept.MessageID)
	if stored.Message.Sender != "alice" {
		t.Errorf("got stored message from %q, want alice", stored.Message.Sender)
	}
	checkStoredTalk(t, alice, it.conv, kept.MessageID, it.sp, frames)
	waitOutboxEmpty(t, it.paths.Home)
}

func TestEngineOutboxSentAfterRestart(t *testing.T) {
	it := startInterruptedTalk(t, nil)
	alice, mic, kept, conv, paths := it.alice, it.mic, it.kept, it.conv, it.paths
	<-mic.spoken
	if err := alice.StopTalk(); err != nil {
		t.Fatalf("StopTalk: %v", err)
	}
	frames := mic.pos / proto.FrameSamples
	// The relay is still down, so closing leaves the message in the
	// outbox.
	alice.Close()
	ob := outbox{dir: filepath.Join(paths.Home, OutboxDir)}
	m, err := ob.load(kept.MessageID)
	if err != nil {
		t.Fatalf("outbox entry after Close: %v", err)
	}
	if m.conv != conv {
		t.Errorf("got outbox conversation %q, want %q", m.conv, conv)
	}
	if len(m.enc.Packets) != frames {
		t.Errorf("got %d packets in the outbox, want the %d captured", len(m.enc.Packets), frames)
	}

	it.relay.start()
	again, _ := keptTalkEngine(t, it.relay, paths, it.sp, -1)
	waitStored(t, again, kept.MessageID)
	checkStoredTalk(t, again, conv, kept.MessageID, it.sp, frames)
	waitOutboxEmpty(t, paths.Home)
}

func TestEngineRejectedOutboxEntryMoves(t *testing.T) {
	r := startRestartableRelay(t)
	paths := engineUser(t, r.srv, "alice")
	// A conversation with a handle that does not exist: the relay rejects
	// the message, so retrying cannot help.
	ob := outbox{dir: filepath.Join(paths.Home, OutboxDir)}
	id := NewMessageID()
	if _, err := ob.save(&outboxEntry{id: id, conv: proto.DirectConversation("alice", "nobody"), enc: speech(t)}); err != nil {
		t.Fatal(err)
	}
	alice := startEngine(t, EngineOptions{Paths: paths, Relay: r.cfg.Listen, OpenCapture: noMic, OpenPlayback: noSpeaker})

	failed := waitEvent(t, alice, EventTalkFailed)
	if failed.MessageID != id {
		t.Errorf("got failure of %s, want %s", failed.MessageID, id)
	}
	var saved *TalkSavedError
	if !errors.As(failed.Err, &saved) || saved.Rejected == nil {
		t.Fatalf("got error %v, want a *TalkSavedError with the relay's rejection", failed.Err)
	}
	want := filepath.Join(ob.dir, "failed", id+".ogg")
	if saved.Path != want {
		t.Errorf("got saved path %s, want %s", saved.Path, want)
	}
	if _, err := os.Stat(want); err != nil {
		t.Errorf("rejected entry: %v", err)
	}
	if ids, err := ob.list(); err != nil || len(ids) != 0 {
		t.Errorf("outbox after the rejection: got %v, %v, want no entries", ids, err)
	}
}

// The relay rejects message ids more than 24 hours old, so an entry that
// waited longer goes out under a new id instead of failing for good.
func TestEngineOldOutboxEntryGetsNewID(t *testing.T) {
	r := startRestartableRelay(t)
	paths := engineUser(t, r.srv, "alice")
	engineUser(t, r.srv, "bob")
	ob := outbox{dir: filepath.Join(paths.Home, OutboxDir)}
	old := ulid.MustNew(ulid.Timestamp(time.Now().Add(-25*time.Hour)), crand.Reader).String()
	conv := proto.DirectConversation("alice", "bob")
	if _, err := ob.save(&outboxEntry{id: old, conv: conv, enc: speech(t)}); err != nil {
		t.Fatal(err)
	}
	alice := startEngine(t, EngineOptions{Paths: paths, Relay: r.cfg.Listen, OpenCapture: noMic, OpenPlayback: noSpeaker})

	stored := waitEvent(t, alice, EventMessageStored)
	if stored.MessageID == old {
		t.Errorf("got the message stored under its old id %s, want a new one", old)
	}
	if age := idAge(stored.MessageID, time.Now()); age > time.Minute {
		t.Errorf("got new id %s made %v ago, want one made now", stored.MessageID, age)
	}
	if stored.Conversation != conv {
		t.Errorf("got conversation %s, want %s", stored.Conversation, conv)
	}
	waitOutboxEmpty(t, paths.Home)
	if _, err := os.Stat(filepath.Join(ob.dir, "failed")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed directory: got %v, want none", err)
	}
}

func TestOutboxLoadRejectsHugeFile(t *testing.T) {
	ob := outbox{dir: t.TempDir()}
	id := NewMessageID()
	f, err := os.Create(ob.path(id))
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file: large to read, cheap to make.
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()

	_, err = ob.load(id)
	if err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Errorf("got error %v, want one naming the 64 MiB limit", err)
	}
}

// A relay that dies without a word leaves Finish waiting for the idle
// timeout. The talk must be on disk in that time, so killing vm then
// loses nothing.
func TestEngineTalkSavedWhileFinishWaits(t *testing.T) {
	sp := loadSpeech(t)
	srv := startLiveRelay(t)
	proxy, err := lossproxy.Start(t.Context(), lossproxy.Config{Target: srv.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	paths := engineUser(t, srv, "alice")
	engineUser(t, srv, "bob")
	mic := newFakeMic(sp.pcm, proto.FrameDuration/2, 25)
	alice := startEngine(t, EngineOptions{Paths: paths, Relay: proxy.Addr().String(), OpenPlayback: noSpeaker,
		OpenCapture:      func(string) (audio.FrameSource, error) { return mic, nil },
		ReconnectBackoff: []time.Duration{time.Minute}})
	if err := alice.StartTalk(proto.DirectConversation("alice", "bob")); err != nil {
		t.Fatalf("StartTalk: %v", err)
	}
	<-mic.reached
	proxy.Close() // the relay falls silent
	if err := alice.StopTalk(); err != nil {
		t.Fatalf("StopTalk: %v", err)
	}

	ob := outbox{dir: filepath.Join(paths.Home, OutboxDir)}
	for {
		ids, err := ob.list()
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == 1 {
			break
		}
		select {
		case ev := <-alice.Events():
			if ev.Kind == EventTalkKept || ev.Kind == EventTalkFailed {
				t.Fatalf("got event %d before the talk was in the outbox, want it saved while Finish waits", ev.Kind)
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
	kept := waitKept(t, alice)
	m, err := ob.load(kept.MessageID)
	if err != nil {
		t.Fatalf("outbox entry of the kept talk: %v", err)
	}
	if got, want := len(m.enc.Packets), mic.pos/proto.FrameSamples; got != want {
		t.Errorf("got %d packets in the outbox, want the %d captured", got, want)
	}
}

// When the outbox cannot be written, the user must learn that the kept
// message exists only in memory.
func TestEngineReportsUnsavedKeptTalk(t *testing.T) {
	it := startInterruptedTalk(t, func(paths config.Paths) {
		// A file where the outbox directory belongs.
		if err := os.WriteFile(filepath.Join(paths.Home, OutboxDir), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	alice := it.alice
	<-it.mic.spoken
	if err := alice.StopTalk(); err != nil {
		t.Fatalf("StopTalk: %v", err)
	}

	ev := waitEvent(t, alice, EventTalkKept)
	var kept *TalkKeptError
	if !errors.As(ev.Err, &kept) || kept.SaveErr == nil {
		t.Fatalf("got EventTalkKept error %v, want a *TalkKeptError with the save error", ev.Err)
	}
	if !strings.Contains(ev.Err.Error(), "quitting vm before then loses it") {
		t.Errorf("got notice %q, want it to warn that quitting loses the message", ev.Err)
	}
}
