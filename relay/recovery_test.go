package relay

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/relay/blob"
	"github.com/vm-voice/vm/relay/meta"
)

func TestParseBlobKey(t *testing.T) {
	id := "01JABCDEFGHJKMNPQRSTVWXYZ0"
	sid := "0123456789abcdef"
	tests := []struct {
		key                       string
		storeID, id, sender, conv string
		ok                        bool
	}{
		{blobKey(sid, id, "alice", "d.alice.bob"), sid, id, "alice", "d.alice.bob", true},
		{blobKey(sid, id, "bob", "c.ops"), sid, id, "bob", "c.ops", true},
		{blobKey("", id, "alice", "d.alice.bob"), "", id, "alice", "d.alice.bob", true},
		{blobKey("", id, "bob", "c.ops"), "", id, "bob", "c.ops", true},
		{"01JABC/" + id + ".alice.ogg", "", "", "", "", false},
		{id + ".alice.c.ops.ogg", "", "", "", "", false},
		{"01XXXX/" + id + ".alice.c.ops.ogg", "", "", "", "", false},
		{sid + "/01XXXX/" + id + ".alice.c.ops.ogg", "", "", "", "", false},
		{"01JABC/" + id + ".alice.c.ops.wav", "", "", "", "", false},
		{sid + "/x/01JABC/" + id + ".alice.c.ops.ogg", "", "", "", "", false},
		{"other/readme.txt", "", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			storeID, id, sender, conv, ok := parseBlobKey(tt.key)
			if ok != tt.ok {
				t.Fatalf("got ok %v, want %v", ok, tt.ok)
			}
			if ok && (storeID != tt.storeID || id != tt.id || sender != tt.sender || conv != tt.conv) {
				t.Errorf("got %q %q %q %q, want %q %q %q %q", storeID, id, sender, conv, tt.storeID, tt.id, tt.sender, tt.conv)
			}
		})
	}
}

// putBlob stores content under key, failing the test on error.
func putBlob(t *testing.T, s blob.Store, key string) {
	t.Helper()
	if err := blob.Put(context.Background(), s, key, bytes.NewReader([]byte("OggS"))); err != nil {
		t.Fatalf("put blob %s: %v", key, err)
	}
}

func blobPresent(t *testing.T, s blob.Store, key string) bool {
	t.Helper()
	r, _, err := s.Open(context.Background(), key)
	if errors.Is(err, blob.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("open blob %s: %v", key, err)
	}
	r.Close()
	return true
}

func TestSweepOrphanBlobs(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	newUser(t, srv, "bob")
	stored := alice.send("@bob", 10)
	m, err := srv.meta.FindMessage(ctx, "d.alice.bob", stored.MessageId)
	if err != nil {
		t.Fatalf("FindMessage: %v", err)
	}
	orphan := blobKey(srv.storeID, ulid.Make().String(), "alice", "d.alice.bob")
	putBlob(t, srv.blobs, orphan)
	foreign := srv.storeID + "/other/readme.txt"
	putBlob(t, srv.blobs, foreign)
	// Blobs outside the store id belong to relays with other metadata,
	// or predate the store id, so the sweep must not delete them.
	otherStore := blobKey("fedcba9876543210", ulid.Make().String(), "alice", "d.alice.bob")
	putBlob(t, srv.blobs, otherStore)
	legacy := blobKey("", ulid.Make().String(), "alice", "d.alice.bob")
	putBlob(t, srv.blobs, legacy)

	st, err := srv.sweep(ctx, time.Hour)
	if err != nil {
		t.Fatalf("sweep with grace: %v", err)
	}
	if st.orphans != 0 || !blobPresent(t, srv.blobs, orphan) {
		t.Errorf("sweep with a 1h grace deleted %d orphans, want the new orphan kept", st.orphans)
	}

	st, err = srv.sweep(ctx, 0)
	if err != nil {
		t.Fatalf("sweep without grace: %v", err)
	}
	if st.orphans != 1 {
		t.Errorf("got %d orphans deleted, want 1", st.orphans)
	}
	if blobPresent(t, srv.blobs, orphan) {
		t.Error("orphan blob still stored after the sweep")
	}
	if !blobPresent(t, srv.blobs, m.BlobKey) {
		t.Error("blob of a stored message deleted by the sweep")
	}
	if !blobPresent(t, srv.blobs, foreign) {
		t.Error("object with a foreign key deleted by the sweep")
	}
	if !blobPresent(t, srv.blobs, otherStore) {
		t.Error("blob under another store id deleted by the sweep")
	}
	if !blobPresent(t, srv.blobs, legacy) {
		t.Error("blob without a store id deleted by the sweep")
	}
	if st.foreign != 1 || st.messages != 1 || st.missing != 0 {
		t.Errorf("got foreign %d, messages %d, missing %d; want 1, 1, 0", st.foreign, st.messages, st.missing)
	}
}

func TestSweepMissingBlobs(t *testing.T) {
	tests := []struct {
		name     string
		messages int
		removed  int
		dropped  int
	}{
		{"one of three", 3, 1, 1},
		{"two of three", 3, 2, 0},
		{"none", 2, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			srv := startServer(t, Config{})
			alice := newUser(t, srv, "alice")
			newUser(t, srv, "bob")
			var ids []string
			for range tt.messages {
				ids = append(ids, alice.send("@bob", 5).MessageId)
			}
			for _, id := range ids[:tt.removed] {
				m, err := srv.meta.FindMessage(ctx, "d.alice.bob", id)
				if err != nil {
					t.Fatalf("FindMessage: %v", err)
				}
				if err := srv.blobs.Delete(ctx, m.BlobKey); err != nil {
					t.Fatalf("delete blob: %v", err)
				}
			}

			st, err := srv.sweep(ctx, time.Hour)
			if err != nil {
				t.Fatalf("sweep: %v", err)
			}
			if st.missing != tt.removed {
				t.Errorf("got %d missing, want %d", st.missing, tt.removed)
			}
			if st.dropped != tt.dropped {
				t.Errorf("got %d messages deleted, want %d", st.dropped, tt.dropped)
			}
			listed := 0
			for _, id := range ids {
				if _, err := srv.meta.FindMessage(ctx, "d.alice.bob", id); err == nil {
					listed++
				} else if !errors.Is(err, meta.ErrNotFound) {
					t.Fatalf("FindMessage: %v", err)
				}
			}
			if want := tt.messages - tt.dropped; listed != want {
				t.Errorf("got %d messages listed after the sweep, want %d", listed, want)
			}
		})
	}
}
