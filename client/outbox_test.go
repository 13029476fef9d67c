package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/proto/pb"
)

func TestOutboxSaveLoad(t *testing.T) {
	enc := speech(t)
	ob := outbox{dir: filepath.Join(t.TempDir(), OutboxDir)}
	id := NewMessageID()
	path, err := ob.save(&outboxEntry{id: id, conv: "d.alice.bob", enc: enc})
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	if path != filepath.Join(ob.dir, id+".ogg") {
		t.Errorf("got path %s, want %s", path, filepath.Join(ob.dir, id+".ogg"))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("got file mode %v, want 0600", perm)
	}

	got, err := ob.load(id)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if got.conv != "d.alice.bob" {
		t.Errorf("got conversation %q, want d.alice.bob", got.conv)
	}
	if got.enc.Samples != enc.Samples || got.enc.PreSkip != enc.PreSkip {
		t.Errorf("got %d samples after pre-skip %d, want %d after %d", got.enc.Samples, got.enc.PreSkip,
			enc.Samples, enc.PreSkip)
	}
	if len(got.enc.Packets) != len(enc.Packets) {
		t.Fatalf("got %d packets, want %d", len(got.enc.Packets), len(enc.Packets))
	}
	for i := range enc.Packets {
		if !bytes.Equal(got.enc.Packets[i], enc.Packets[i]) {
			t.Fatalf("packet %d differs after the round trip", i)
		}
	}
	// The outbox file is an ordinary Ogg Opus file, so vm send can send it.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := audio.DecodeOggOpus(f, maxOutboxBytes); err != nil {
		t.Errorf("decode outbox file: %v", err)
	}
}

func TestOutboxListRemoveReject(t *testing.T) {
	enc := speech(t)
	ob := outbox{dir: filepath.Join(t.TempDir(), OutboxDir)}
	if ids, err := ob.list(); err != nil || len(ids) != 0 {
		t.Fatalf("list of a missing outbox: got %v, %v, want no ids and no error", ids, err)
	}
	older, newer := NewMessageID(), NewMessageID()
	for _, id := range []string{newer, older} {
		if _, err := ob.save(&outboxEntry{id: id, conv: "c.ops", enc: enc}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"notes.txt", "not-an-id.ogg", ".tmp.ogg"} {
		if err := os.WriteFile(filepath.Join(ob.dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := ob.list()
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(ids) != 2 || ids[0] != older || ids[1] != newer {
		t.Fatalf("got ids %v, want [%s %s], oldest first", ids, older, newer)
	}

	moved, err := ob.reject(older)
	if err != nil {
		t.Fatalf("reject: %v", err)
	}
	if want := filepath.Join(ob.dir, "failed", older+".ogg"); moved != want {
		t.Errorf("got rejected path %s, want %s", moved, want)
	}
	if err := ob.remove(newer); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if err := ob.remove(newer); err != nil {
		t.Errorf("remove of a removed entry: %v", err)
	}
	if ids, err := ob.list(); err != nil || len(ids) != 0 {
		t.Errorf("after reject and remove: got %v, %v, want no ids", ids, err)
	}
}

func TestOutboxLoadRejectsMissingConversation(t *testing.T) {
	enc := speech(t)
	ob := outbox{dir: t.TempDir()}
	id := NewMessageID()
	var buf bytes.Buffer
	if err := audio.WriteOggOpus(&buf, enc, nil, 1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ob.path(id), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.load(id); err == nil {
		t.Error("load of a file without a conversation tag: got nil error, want one")
	}
}

// transientErr is an error that IsTransient accepts.
var transientErr = fmt.Errorf("send: %w", ErrTimeout)

func TestRetryKeptWaitsForSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := make(chan struct{})
		waitSession := func(ctx context.Context) (int, error) {
			select {
			case <-up:
				return 1, nil
			case <-ctx.Done():
				return 0, context.Cause(ctx)
			}
		}
		start := time.Now()
		var sentAt []time.Duration
		send := func(context.Context, int) error {
			sentAt = append(sentAt, time.Since(start))
			if len(sentAt) < 3 {
				return transientErr
			}
			return nil
		}
		go func() {
			time.Sleep(7 * time.Second)
			close(up)
		}()
		backoff := []time.Duration{time.Second, 3 * time.Second}
		if err := retryKept(t.Context(), backoff, slog.New(slog.DiscardHandler), waitSession, send); err != nil {
			t.Fatalf("retryKept: %v", err)
		}
		// The first attempt waits for the session, and the later ones
		// follow the backoff.
		want := []time.Duration{7 * time.Second, 8 * time.Second, 11 * time.Second}
		if len(sentAt) != len(want) {
			t.Fatalf("got attempts at %v, want %v", sentAt, want)
		}
		for i := range want {
			if sentAt[i] != want[i] {
				t.Errorf("attempt %d at %v, want %v", i+1, sentAt[i], want[i])
			}
		}
	})
}

func TestRetryKeptStopsAtDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeoutCause(t.Context(), KeptRetryTime, errKeptTimedOut)
		defer cancel()
		ready := func(context.Context) (int, error) { return 1, nil }
		attempts := 0
		send := func(context.Context, int) error {
			attempts++
			return transientErr
		}
		start := time.Now()
		err := retryKept(ctx, keptBackoff, slog.New(slog.DiscardHandler), ready, send)
		if !errors.Is(err, errKeptTimedOut) {
			t.Errorf("got %v, want an error wrapping errKeptTimedOut", err)
		}
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("got %v, want it to wrap the last attempt's error", err)
		}
		if d := time.Since(start); d != KeptRetryTime {
			t.Errorf("gave up after %v, want %v", d, KeptRetryTime)
		}
		// 1+2+5 s, then every 10 s: attempts at 0, 1, 3, 8, 18, ... 298 s.
		if want := 4 + int((KeptRetryTime-8*time.Second)/(10*time.Second)); attempts != want {
			t.Errorf("got %d attempts in %v, want %d", attempts, KeptRetryTime, want)
		}
	})
}

func TestRetryKeptStopsOnPermanentError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ready := func(context.Context) (int, error) { return 1, nil }
		rejected := &RemoteError{Code: pb.ErrorCode_ERROR_CODE_BAD_REQUEST, Message: "creation time too old"}
		attempts := 0
		send := func(context.Context, int) error {
			attempts++
			return rejected
		}
		err := retryKept(t.Context(), keptBackoff, slog.New(slog.DiscardHandler), ready, send)
		if !errors.Is(err, rejected) {
			t.Errorf("got %v, want the relay's error", err)
		}
		if attempts != 1 {
			t.Errorf("got %d attempts, want 1", attempts)
		}
	})
}
