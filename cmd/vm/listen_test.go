package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

func TestListenWritesNewMessage(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	alice := user(t, srv, "alice")
	bob := user(t, srv, "bob")
	out := t.TempDir()

	var stdout, stderr lockedBuffer
	ready := make(chan struct{}, 1)
	a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		env: func(string) string { return "" }, backoff: client.DefaultBackoff,
		listenReady: func() { ready <- struct{}{} }}
	ctx, cancel := context.WithCancel(t.Context())
	code := make(chan int, 1)
	go func() {
		code <- a.execute(ctx, []string{"--home", bob.home, "--relay", bob.relay, "listen", "--out", out})
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatalf("vm listen did not subscribe within 20s; stderr %q", stderr.String())
	}

	msgID := strings.TrimSpace(alice.must("send", speechFile, "--to", "@bob").stdout)
	want := filepath.Join(out, "alice")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout.String(), msgID) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Errorf("got exit %d, want %d; stderr %q", c, exitOK, stderr.String())
	}
	path := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(path, want+"/") || !strings.HasSuffix(path, "-alice-"+msgID+".ogg") {
		t.Fatalf("got output %q, want one path under %s ending in -alice-%s.ogg", path, want, msgID)
	}
	if r := bob.must("fetch", "--out", t.TempDir()); r.stdout != "" {
		t.Errorf("fetch after listen: got %q, want nothing, because listen wrote the message", r.stdout)
	}
}
