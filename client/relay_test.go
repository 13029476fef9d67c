package client

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/audio/oggopus"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
	"github.com/vm-voice/vm/relay"
)

// startRelay runs an in-process relay on a loopback port with its data in
// a temporary directory, and stops it when the test ends.
func startRelay(t testing.TB, cfg relay.Config) *relay.Server {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	srv, err := relay.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Run(ctx); err != nil {
			t.Errorf("relay Run: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return srv
}

// user is a test user with its own identity and pin file.
type user struct {
	id   *Identity
	pins *KnownRelays
}

func newUser(t testing.TB) *user {
	t.Helper()
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return &user{id: id, pins: &KnownRelays{Path: filepath.Join(t.TempDir(), KnownRelaysFile)}}
}

// connect dials, logs in and registers handle unless it is "".
func (u *user) connect(t testing.TB, srv *relay.Server, handle string) *Conn {
	t.Helper()
	c, err := Dial(t.Context(), srv.Addr().String(), u.id, u.pins, Options{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	login, err := c.Login(t.Context())
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if handle != "" && !login.GetRegistered() {
		if _, err := c.Register(t.Context(), handle, ""); err != nil {
			t.Fatalf("Register @%s: %v", handle, err)
		}
	}
	return c
}

// speech encodes the committed speech sample.
func speech(t *testing.T) *audio.Encoded {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "speech-16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, err := audio.DecodeFile(f, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := audio.EncodePCM(pcm, audio.EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestRelayPinsCertificate(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	alice := newUser(t)
	c := alice.connect(t, srv, "")
	if c.Fingerprint() != srv.CertFingerprint() {
		t.Errorf("got key %s, want the relay's %s", c.Fingerprint(), srv.CertFingerprint())
	}
	if !c.FirstUse() {
		t.Error("got FirstUse false on the first dial, want true")
	}
}

func TestRelaySendFetchOffline(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	alice, bob := newUser(t), newUser(t)
	bobConn := bob.connect(t, srv, "bob")
	bobConn.Close() // bob is offline while alice sends
	ac := alice.connect(t, srv, "alice")
	enc := speech(t)

	id := NewMessageID()
	res, err := ac.Send(t.Context(), proto.Recipient{Name: "bob"}, enc, id)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.GetConversation() != "d.alice.bob" || res.GetDuplicate() {
		t.Errorf("got conversation %q, duplicate %v, want d.alice.bob, false", res.GetConversation(), res.GetDuplicate())
	}
	again, err := ac.Send(t.Context(), proto.Recipient{Name: "bob"}, enc, id)
	if err != nil {
		t.Fatalf("repeated Send: %v", err)
	}
	if !again.GetDuplicate() || again.GetSeq() != res.GetSeq() {
		t.Errorf("got duplicate %v seq %d for a repeat, want true and %d", again.GetDuplicate(), again.GetSeq(), res.GetSeq())
	}

	bc := bob.connect(t, srv, "bob")
	list, err := bc.List(t.Context(), ListOptions{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list.GetMessages()) != 1 {
		t.Fatalf("got %d messages, want 1 (stored once)", len(list.GetMessages()))
	}
	m := list.GetMessages()[0]
	if m.GetMessageId() != id || m.GetSender() != "alice" {
		t.Errorf("got message %s from %s, want %s from alice", m.GetMessageId(), m.GetSender(), id)
	}
	info, blob, err := bc.Fetch(t.Context(), m.GetConversation(), id)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if info.GetMessageId() != id {
		t.Errorf("got info for %s, want %s", info.GetMessageId(), id)
	}
	file, err := oggopus.Read(bytes.NewReader(blob), int64(len(blob)))
	if err != nil {
		t.Fatalf("read fetched Ogg Opus: %v", err)
	}
	if file.Samples != enc.Samples || file.Head.PreSkip != enc.PreSkip {
		t.Errorf("got %d samples, pre-skip %d, want %d and %d", file.Samples, file.Head.PreSkip, enc.Samples, enc.PreSkip)
	}

	if err := bc.AckDelivery(t.Context(), m.GetConversation(), m.GetSeq()); err != nil {
		t.Fatalf("AckDelivery: %v", err)
	}
	list, err = bc.List(t.Context(), ListOptions{})
	if err != nil {
		t.Fatalf("List after ack: %v", err)
	}
	if n := len(list.GetMessages()); n != 0 {
		t.Errorf("got %d messages after the ack, want 0", n)
	}
}

func TestRelayPermanentErrors(t *testing.T) {
	srv := startRelay(t, relay.Config{MaxMessageDuration: time.Second})
	ac := newUser(t).connect(t, srv, "alice")
	enc := speech(t)

	_, err := ac.Send(t.Context(), proto.Recipient{Name: "nobody"}, &audio.Encoded{
		Packets: enc.Packets[:10], PreSkip: enc.PreSkip, Samples: 9 * proto.FrameSamples, InputRate: 16000,
	}, NewMessageID())
	if !IsCode(err, pb.ErrorCode_ERROR_CODE_NOT_FOUND) || IsTransient(err) {
		t.Errorf("unknown recipient: got %v, want permanent ERROR_CODE_NOT_FOUND", err)
	}
	_, err = ac.Send(t.Context(), proto.Recipient{Name: "alice"}, enc, NewMessageID())
	if !errors.Is(err, ErrTooLong) {
		t.Errorf("long message: got %v, want ErrTooLong", err)
	}
}

func TestRelayChannels(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	ac := newUser(t).connect(t, srv, "alice")
	bc := newUser(t).connect(t, srv, "bob")

	if _, err := ac.CreateChannel(t.Context(), "ops"); err != nil {
		t.Fatalf("CreateChannel: %v", err)
	}
	if _, err := bc.JoinChannel(t.Context(), "ops"); err != nil {
		t.Fatalf("JoinChannel: %v", err)
	}
	info, err := ac.Members(t.Context(), "ops")
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	if got := info.GetMembers(); len(got) != 2 || info.GetOwner() != "alice" {
		t.Errorf("got members %v owner %q, want alice and bob, owner alice", got, info.GetOwner())
	}
	convs, err := bc.ListConversations(t.Context())
	if err != nil {
		t.Fatalf("ListConversations: %v", err)
	}
	found := false
	for _, c := range convs {
		found = found || c.GetId() == "c.ops"
	}
	if !found {
		t.Errorf("got conversations %v, want c.ops among them", convs)
	}
	if err := bc.LeaveChannel(t.Context(), "ops"); err != nil {
		t.Fatalf("LeaveChannel: %v", err)
	}
	if _, err := ac.CreateChannel(t.Context(), "ops"); err == nil || IsTransient(err) {
		t.Errorf("second create: got %v, want a permanent error", err)
	}
}
