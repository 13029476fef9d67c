package relay

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

func TestResetKeyPersists(t *testing.T) {
	dir := t.TempDir()
	first, err := loadResetKey(dir)
	if err != nil {
		t.Fatalf("first load: %v", err)
	}
	second, err := loadResetKey(dir)
	if err != nil {
		t.Fatalf("second load: %v", err)
	}
	if *first != *second {
		t.Error("second load returned a different key")
	}
	if *first == (quic.StatelessResetKey{}) {
		t.Error("key is all zero")
	}
	info, err := os.Stat(filepath.Join(dir, resetKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode %o, want 600", mode)
	}
}

func TestResetKeyRejectsWrongSize(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, resetKeyFile), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadResetKey(dir)
	if err == nil || !strings.Contains(err.Error(), "delete the file") {
		t.Fatalf("got %v, want an invalid key error that names the fix", err)
	}
}

// runRelay starts a relay on listen with its data in dir. kill closes its
// UDP socket without a word to the clients, as when the process is
// killed, and then stops the rest of it.
func runRelay(t *testing.T, listen, dir string) (srv *testServer, kill func()) {
	t.Helper()
	s, err := New(Config{Listen: listen, DataDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx) // returns an accept error once kill closed the socket
	}()
	killed := false
	kill = func() {
		if killed {
			return
		}
		killed = true
		s.transport.Conn.Close()
		cancel()
		<-done
	}
	t.Cleanup(kill)
	return &testServer{Server: s}, kill
}

func TestRestartedRelayResetsOldConnection(t *testing.T) {
	dir := t.TempDir()
	first, kill := runRelay(t, "127.0.0.1:0", dir)
	addr := first.Addr().String()
	alice := newUser(t, first, "alice")

	kill()
	if err := alice.conn.Context().Err(); err != nil {
		t.Fatalf("connection ended with the killed relay (%v), so the test cannot tell a reset", context.Cause(alice.conn.Context()))
	}
	runRelay(t, addr, dir)

	// A packet larger than a stateless reset, which the new relay cannot
	// decrypt, draws the reset.
	str, err := alice.conn.OpenStream()
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	str.Write(bytes.Repeat([]byte{0}, 200))
	select {
	case <-alice.conn.Context().Done():
	case <-time.After(30 * time.Second):
		t.Fatal("connection still open 30s after the restart")
	}
	var reset *quic.StatelessResetError
	if cause := context.Cause(alice.conn.Context()); !errors.As(cause, &reset) {
		t.Errorf("connection ended with %v, want a stateless reset", cause)
	}
}
