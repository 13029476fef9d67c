package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/relay"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader in
// different goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runningListen is a vm listen started in the background by startListen.
type runningListen struct {
	stdout, stderr *lockedBuffer
	cancel         context.CancelFunc
	code           chan int
}

// startListen runs vm listen with args for v and waits until it has
// subscribed to the relay's events. openPlayback, unless nil, replaces
// PortAudio's speaker. The listen stops when the test ends or on stop.
func startListen(t *testing.T, v *vmTest, openPlayback func(string) (audio.FrameSink, error), args ...string) *runningListen {
	t.Helper()
	l := &runningListen{stdout: new(lockedBuffer), stderr: new(lockedBuffer), code: make(chan int, 1)}
	ready := make(chan struct{}, 1)
	a := &app{stdin: strings.NewReader(""), stdout: l.stdout, stderr: l.stderr,
		env: func(string) string { return "" }, backoff: client.DefaultBackoff,
		listenReady:  func() { ready <- struct{}{} },
		openPlayback: openPlayback}
	ctx, cancel := context.WithCancel(t.Context())
	l.cancel = cancel
	t.Cleanup(cancel)
	full := append([]string{"--home", v.home, "--relay", v.relay, "listen"}, args...)
	go func() { l.code <- a.execute(ctx, full) }()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatalf("vm listen did not subscribe within 20s; stderr %q", l.stderr.String())
	}
	return l
}

// stop ends the listen and checks that it exits 0.
func (l *runningListen) stop(t *testing.T) {
	t.Helper()
	l.cancel()
	if c := <-l.code; c != exitOK {
		t.Errorf("got exit %d, want %d; stderr %q", c, exitOK, l.stderr.String())
	}
}

func TestListenWritesNewMessage(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	alice := user(t, srv, "alice")
	bob := user(t, srv, "bob")
	// vm listen creates a missing output directory.
	out := filepath.Join(t.TempDir(), "new", "messages")

	l := startListen(t, bob, nil, "--out", out)

	msgID := strings.TrimSpace(alice.must("send", speechFile, "--to", "@bob").stdout)
	want := filepath.Join(out, "alice")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(l.stdout.String(), msgID) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	l.stop(t)
	path := strings.TrimSpace(l.stdout.String())
	if !strings.HasPrefix(path, want+"/") || !strings.HasSuffix(path, "-alice-"+msgID+".ogg") {
		t.Fatalf("got output %q, want one path under %s ending in -alice-%s.ogg", path, want, msgID)
	}
	if r := bob.must("fetch", "--out", t.TempDir()); r.stdout != "" {
		t.Errorf("fetch after listen: got %q, want nothing, because listen wrote the message", r.stdout)
	}
}

// runListenFor runs vm listen as v for at most d and returns its result.
// A listen that does not fail at start runs until d ends and exits 0.
func runListenFor(v *vmTest, d time.Duration, args ...string) result {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(v.t.Context(), d)
	defer cancel()
	var stdout, stderr lockedBuffer
	a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		env: func(string) string { return "" }, backoff: client.DefaultBackoff}
	if v.tweak != nil {
		v.tweak(a)
	}
	full := append([]string{"--home", v.home, "--relay", v.relay, "listen"}, args...)
	code := a.execute(ctx, full)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// checkFailure checks that r failed with one error line containing want.
func checkFailure(t *testing.T, r result, want string) {
	t.Helper()
	if r.code != exitError {
		t.Errorf("got exit %d, want %d; stderr %q", r.code, exitError, r.stderr)
	}
	if n := strings.Count(r.stderr, "\n"); n != 1 {
		t.Errorf("got %d lines on stderr, want 1: %q", n, r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("got stderr %q, want it to contain %q", r.stderr, want)
	}
}

func TestListenStartErrors(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	bob := user(t, srv, "bob")
	bob.tweak = func(a *app) {
		a.openPlayback = func(string) (audio.FrameSink, error) { return nil, audio.ErrNoOutputDevice }
	}
	notDir := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "out is a file", args: []string{"--out", notDir},
			want: "output directory " + notDir + " is not usable: mkdir " + notDir + ": not a directory: pass --out a writable directory"},
		{name: "out under a file", args: []string{"--out", filepath.Join(notDir, "sub")},
			want: "output directory " + filepath.Join(notDir, "sub") + " is not usable"},
		{name: "unknown user with out", args: []string{"--to", "@nosuch", "--out", t.TempDir()},
			want: "invalid --to @nosuch: list messages: relay returned not_found: unknown user @nosuch"},
		{name: "unknown user", args: []string{"--to", "@nosuch"}, want: "unknown user @nosuch"},
		{name: "unknown channel", args: []string{"--to", "#nochan"}, want: "channel #nochan not found"},
		{name: "no speaker", args: nil,
			want: "vm: speaker unavailable: no audio output device; to write the messages to files instead, pass --out DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFailure(t, runListenFor(bob, 20*time.Second, tt.args...), tt.want)
		})
	}
}

func TestListenRejectsReadOnlyOut(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write to a read-only directory")
	}
	srv := startRelay(t, relay.Config{})
	bob := user(t, srv, "bob")
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	r := runListenFor(bob, 20*time.Second, "--out", dir)
	checkFailure(t, r, "output directory "+dir+" is not usable: ")
	if !strings.Contains(r.stderr, "permission denied: pass --out a writable directory") {
		t.Errorf("got stderr %q, want the cause and the fix", r.stderr)
	}
}

func TestListenWarningNamesChannel(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	alice := user(t, srv, "alice")
	bob := user(t, srv, "bob")
	alice.must("channel", "create", "#ops")
	bob.must("channel", "join", "#ops")
	out := t.TempDir()

	l := startListen(t, bob, nil, "--out", out)
	// The output directory breaks after the start check, so the message
	// is skipped with a warning.
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	msgID := strings.TrimSpace(alice.must("send", speechFile, "--to", "#ops").stdout)
	want := "vm: message " + msgID + " in #ops: write to output directory " + out
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(l.stderr.String(), want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	l.stop(t)
	if !strings.Contains(l.stderr.String(), want) {
		t.Errorf("got stderr %q, want it to contain %q", l.stderr.String(), want)
	}
	if l.stdout.String() != "" {
		t.Errorf("got stdout %q, want nothing written", l.stdout.String())
	}
}

// countingSink is a speaker that takes frames without pacing and counts
// them.
type countingSink struct {
	mu     sync.Mutex
	frames int
}

func (s *countingSink) Write([]float32) error {
	s.mu.Lock()
	s.frames++
	s.mu.Unlock()
	return nil
}

func (s *countingSink) Close() error { return nil }

func TestListenPlayedMessageGetsReceipt(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	alice := user(t, srv, "alice")
	carol := user(t, srv, "carol")
	alice.must("channel", "create", "#ops")
	carol.must("channel", "join", "#ops")

	// alice follows her events through a session of her own identity.
	id, err := client.LoadIdentity(alice.home)
	if err != nil {
		t.Fatal(err)
	}
	pins := &client.KnownRelays{Path: filepath.Join(alice.home, client.KnownRelaysFile)}
	c, err := client.Dial(t.Context(), alice.relay, id, pins, client.Options{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	if _, err := c.Login(t.Context()); err != nil {
		t.Fatalf("Login: %v", err)
	}
	sess, err := client.OpenSession(t.Context(), c, client.SessionOptions{})
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	defer sess.Close()

	sink := &countingSink{}
	l := startListen(t, carol, func(string) (audio.FrameSink, error) { return sink, nil }, "--to", "#ops")

	msgID := strings.TrimSpace(alice.must("send", speechFile, "--to", "#ops").stdout)
	timeout := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case ev, ok := <-sess.Events():
			if !ok {
				t.Fatalf("alice's event feed closed: %v", sess.Err())
			}
			l := ev.Msg.GetListened()
			if l == nil {
				continue
			}
			if l.GetHandle() != "carol" || l.GetMessageId() != msgID {
				t.Errorf("got receipt from @%s for %s, want @carol for %s", l.GetHandle(), l.GetMessageId(), msgID)
			}
			done = true
		case <-timeout:
			t.Fatalf("no receipt within 30s; listen stdout %q, stderr %q", l.stdout.String(), l.stderr.String())
		}
	}
	l.stop(t)
	sink.mu.Lock()
	frames := sink.frames
	sink.mu.Unlock()
	// The sample lasts 5.8 s, 290 frames of 20 ms.
	if frames < 290 {
		t.Errorf("got %d frames played, want at least 290", frames)
	}
	if !strings.Contains(l.stdout.String(), "#ops @alice") {
		t.Errorf("got stdout %q, want a line for alice's message in #ops", l.stdout.String())
	}
}
