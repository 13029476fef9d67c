package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/internal/s3test"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
	"github.com/vm-voice/vm/relay/blob"
)

// s3Config returns a relay configuration that keeps message audio in the
// bucket of srv under the prefix "msgs/".
func s3Config(srv *s3test.Server) Config {
	return Config{Store: StoreS3, S3: blob.S3Config{
		Endpoint:  srv.Endpoint,
		Region:    "us-east-1",
		Bucket:    srv.Bucket,
		Prefix:    "msgs/",
		PathStyle: true,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
	}}
}

// readBlob returns the content of the blob under key.
func readBlob(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	r, _, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open blob %s: %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read blob %s: %v", key, err)
	}
	return b
}

func TestSweepSharedBucket(t *testing.T) {
	ctx := context.Background()
	s3 := s3test.Start(t)
	relayA := startServer(t, s3Config(s3))
	relayB := startServer(t, s3Config(s3))
	if relayA.storeID == relayB.storeID {
		t.Fatalf("got store id %q for both relays, want different ids for separate metadata", relayA.storeID)
	}
	alice := newUser(t, relayA, "alice")
	bob := newUser(t, relayA, "bob")
	sent := alice.send("@bob", 10)
	m, err := relayA.meta.FindMessage(ctx, sent.Conversation, sent.MessageId)
	if err != nil {
		t.Fatalf("FindMessage: %v", err)
	}
	if want := relayA.storeID + "/"; !strings.HasPrefix(m.BlobKey, want) {
		t.Errorf("got blob key %q, want it under the store id %q", m.BlobKey, want)
	}

	st, err := relayB.sweep(ctx, 0)
	if err != nil {
		t.Fatalf("sweep of relay B: %v", err)
	}
	if st.orphans != 0 || st.blobs != 0 {
		t.Errorf("got %d blobs listed and %d orphans deleted by relay B, want 0 and 0", st.blobs, st.orphans)
	}
	if !blobPresent(t, relayA.blobs, m.BlobKey) {
		t.Fatal("relay B's sweep deleted the blob of relay A's message")
	}
	res, body := bob.fetch(sent.Conversation, sent.MessageId)
	if res.Error != nil {
		t.Fatalf("fetch after relay B's sweep: %v", res.Error)
	}
	if uint64(len(body)) != sent.Bytes {
		t.Errorf("got %d bytes fetched, want %d", len(body), sent.Bytes)
	}

	orphan := blobKey(relayA.storeID, ulid.Make().String(), "alice", sent.Conversation)
	putBlob(t, relayA.blobs, orphan)
	st, err = relayA.sweep(ctx, 0)
	if err != nil {
		t.Fatalf("sweep of relay A: %v", err)
	}
	if st.orphans != 1 {
		t.Errorf("got %d orphans deleted by relay A, want 1", st.orphans)
	}
	if blobPresent(t, relayA.blobs, orphan) {
		t.Error("orphan under relay A's store id still stored after relay A's sweep")
	}
	if !blobPresent(t, relayA.blobs, m.BlobKey) {
		t.Error("relay A's sweep deleted the blob of its own message")
	}
}

func TestFetchBrokenBlob(t *testing.T) {
	tests := []struct {
		name string
		// damage changes the blob of a stored message and returns the
		// expected part of the error message, empty for success.
		damage func(t *testing.T, srv *testServer, m *pb.MessageInfo) string
		// wantLog is the expected part of the one error log line.
		wantLog string
	}{
		{
			name: "missing",
			damage: func(t *testing.T, srv *testServer, m *pb.MessageInfo) string {
				if err := srv.blobs.Delete(context.Background(), m.BlobKey); err != nil {
					t.Fatalf("delete blob: %v", err)
				}
				return "audio of message " + m.MessageId + " is missing on the relay; ask the operator"
			},
			wantLog: "blob not found",
		},
		{
			name: "truncated",
			damage: func(t *testing.T, srv *testServer, m *pb.MessageInfo) string {
				b := readBlob(t, srv.blobs, m.BlobKey)
				if err := blob.Put(context.Background(), srv.blobs, m.BlobKey, bytes.NewReader(b[:100])); err != nil {
					t.Fatalf("put truncated blob: %v", err)
				}
				return "audio of message " + m.MessageId + " is damaged on the relay (100 of " + strconv.Itoa(len(b)) + " bytes); ask the operator"
			},
			wantLog: "want=",
		},
		{
			name: "grown",
			damage: func(t *testing.T, srv *testServer, m *pb.MessageInfo) string {
				b := readBlob(t, srv.blobs, m.BlobKey)
				b = append(b, "junk"...)
				if err := blob.Put(context.Background(), srv.blobs, m.BlobKey, bytes.NewReader(b)); err != nil {
					t.Fatalf("put grown blob: %v", err)
				}
				return "is damaged on the relay (" + strconv.Itoa(len(b)) + " of " + strconv.Itoa(len(b)-4) + " bytes)"
			},
			wantLog: "got=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logBuffer
			srv := startServer(t, Config{}, captureLog(&logs))
			alice := newUser(t, srv, "alice")
			bob := newUser(t, srv, "bob")
			sent := alice.send("@bob", 10)
			m, err := srv.meta.FindMessage(context.Background(), sent.Conversation, sent.MessageId)
			if err != nil {
				t.Fatalf("FindMessage: %v", err)
			}
			want := tt.damage(t, srv, m)

			res, body := bob.fetch(sent.Conversation, sent.MessageId)
			if got := errCode(res); got != pb.ErrorCode_ERROR_CODE_NOT_FOUND {
				t.Fatalf("got code %v, want NOT_FOUND", got)
			}
			if got := res.Error.GetMessage(); !strings.Contains(got, want) {
				t.Errorf("got error %q, want it to contain %q", got, want)
			}
			if len(body) != 0 {
				t.Errorf("got %d blob bytes after the error, want none", len(body))
			}
			var lines []string
			for _, line := range logs.lines("level=ERROR") {
				if strings.Contains(line, m.MessageId) {
					lines = append(lines, line)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("got error log lines %q, want one", lines)
			}
			for _, attr := range []string{"msg_id=" + m.MessageId, "conv=" + m.Conversation, "key=" + m.BlobKey, tt.wantLog} {
				if !strings.Contains(lines[0], attr) {
					t.Errorf("got error log line %q, want it to contain %q", lines[0], attr)
				}
			}
		})
	}
}

func TestFetchLegacyBlobKey(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	bob := newUser(t, srv, "bob")
	sent := alice.send("@bob", 10)
	m, err := srv.meta.FindMessage(ctx, sent.Conversation, sent.MessageId)
	if err != nil {
		t.Fatalf("FindMessage: %v", err)
	}
	content := readBlob(t, srv.blobs, m.BlobKey)

	// A message stored by a relay before the store id has a key without it.
	id := ulid.Make().String()
	key := blobKey("", id, "alice", sent.Conversation)
	if err := blob.Put(ctx, srv.blobs, key, bytes.NewReader(content)); err != nil {
		t.Fatalf("put legacy blob: %v", err)
	}
	legacy := &pb.MessageInfo{MessageId: id, Conversation: sent.Conversation, Sender: "alice",
		CreatedUnixMs: m.CreatedUnixMs, DurationMs: m.DurationMs, Bytes: m.Bytes, BlobKey: key, Frames: m.Frames}
	if _, _, err := srv.meta.PutMessage(ctx, legacy); err != nil {
		t.Fatalf("PutMessage: %v", err)
	}

	res, body := bob.fetch(sent.Conversation, id)
	if res.Error != nil {
		t.Fatalf("fetch of a message with a legacy key: %v", res.Error)
	}
	if !bytes.Equal(body, content) {
		t.Errorf("got %d bytes fetched, want the %d stored", len(body), len(content))
	}
	st, err := srv.sweep(ctx, 0)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if st.missing != 0 || st.damaged != 0 {
		t.Errorf("got %d missing and %d damaged after the sweep, want 0 and 0", st.missing, st.damaged)
	}
	if !blobPresent(t, srv.blobs, key) {
		t.Error("sweep deleted the blob with a legacy key")
	}
}

func TestSweepDamagedBlob(t *testing.T) {
	tests := []struct {
		name   string
		legacy bool // whether the blob key lacks the store id, so the sweep opens it
	}{
		{"listed", false},
		{"legacy key", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var logs logBuffer
			srv := startServer(t, Config{}, captureLog(&logs))
			alice := newUser(t, srv, "alice")
			newUser(t, srv, "bob")
			sent := alice.send("@bob", 10)
			m, err := srv.meta.FindMessage(ctx, sent.Conversation, sent.MessageId)
			if err != nil {
				t.Fatalf("FindMessage: %v", err)
			}
			key := m.BlobKey
			if tt.legacy {
				id := ulid.Make().String()
				key = blobKey("", id, "alice", sent.Conversation)
				info := &pb.MessageInfo{MessageId: id, Conversation: sent.Conversation, Sender: "alice", Bytes: m.Bytes, BlobKey: key}
				if _, _, err := srv.meta.PutMessage(ctx, info); err != nil {
					t.Fatalf("PutMessage: %v", err)
				}
			}
			b := readBlob(t, srv.blobs, m.BlobKey)
			if err := blob.Put(ctx, srv.blobs, key, bytes.NewReader(b[:len(b)/2])); err != nil {
				t.Fatalf("put truncated blob: %v", err)
			}

			st, err := srv.sweep(ctx, 0)
			if err != nil {
				t.Fatalf("sweep: %v", err)
			}
			if st.damaged != 1 {
				t.Errorf("got %d damaged, want 1", st.damaged)
			}
			if st.orphans != 0 || st.dropped != 0 {
				t.Errorf("got %d orphans and %d messages deleted, want 0 and 0", st.orphans, st.dropped)
			}
			if !blobPresent(t, srv.blobs, key) {
				t.Error("sweep deleted the damaged blob")
			}
			lines := logs.lines(`msg="message audio damaged`)
			if len(lines) != 1 {
				t.Fatalf("got damage log lines %q, want one", lines)
			}
			for _, attr := range []string{"key=" + key, "want=" + strconv.Itoa(int(m.Bytes)), "got=" + strconv.Itoa(len(b)/2)} {
				if !strings.Contains(lines[0], attr) {
					t.Errorf("got log line %q, want it to contain %q", lines[0], attr)
				}
			}
		})
	}
}

func TestS3SpoolDir(t *testing.T) {
	ctx := context.Background()
	s3 := s3test.Start(t)
	cfg := s3Config(s3)
	cfg.DataDir = t.TempDir()
	spool := filepath.Join(cfg.DataDir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(spool, "vm-s3-spool-123")
	if err := os.WriteFile(leftover, []byte("OggS"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, cfg)

	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v for the stat of a leftover spool file after start, want it removed", err)
	}
	st, err := os.Stat(spool)
	if err != nil {
		t.Fatalf("stat spool dir: %v", err)
	}
	if got := st.Mode().Perm(); got != 0o700 {
		t.Errorf("got spool dir mode %v, want 0700", got)
	}
	w, err := srv.blobs.Create(ctx, blobKey(srv.storeID, ulid.Make().String(), "alice", "d.alice.bob"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if n := countEntries(t, spool); n != 1 {
		t.Errorf("got %d files in the spool dir during an upload, want 1", n)
	}
	w.Abort()
	if n := countEntries(t, spool); n != 0 {
		t.Errorf("got %d files in the spool dir after the upload, want 0", n)
	}
}

// countEntries returns the number of entries in dir.
func countEntries(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir: %v", err)
	}
	return len(entries)
}

func TestStartLogNamesStore(t *testing.T) {
	s3 := s3test.Start(t)
	tests := []struct {
		name string
		cfg  Config
		// want returns the attributes the start log line must contain.
		want func(srv *testServer) []string
	}{
		{"disk", Config{}, func(srv *testServer) []string {
			return []string{"store=disk", "dir=" + filepath.Join(srv.cfg.DataDir, "blobs"), "store_id=" + srv.storeID}
		}},
		{"s3", s3Config(s3), func(srv *testServer) []string {
			return []string{"store=s3", "endpoint=" + s3.Endpoint, "bucket=" + s3.Bucket, "prefix=msgs/", "store_id=" + srv.storeID}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logBuffer
			cfg := tt.cfg
			cfg.HTTPListen = "127.0.0.1:0"
			srv := startServer(t, cfg, captureLog(&logs))
			newUser(t, srv, "alice") // the server has logged its start once it serves
			lines := logs.lines(`msg="relay listening"`)
			if len(lines) != 1 {
				t.Fatalf("got start log lines %q, want one", lines)
			}
			want := append(tt.want(srv), "http_addr="+srv.HTTPAddr().String())
			for _, attr := range want {
				if !strings.Contains(lines[0], attr) {
					t.Errorf("got start log line %q, want it to contain %q", lines[0], attr)
				}
			}
			if strings.Contains(lines[0], "http_addr=127.0.0.1:0 ") {
				t.Errorf("got start log line %q, want the bound HTTP port", lines[0])
			}
		})
	}
}

// bigRecords returns the upload records of a message of n frames whose
// Opus packets are size bytes each; the relay checks only their TOC byte.
func bigRecords(n, size int) []byte {
	var b []byte
	for i := range n {
		p := make([]byte, size)
		p[0] = 15 << 3
		f := proto.Frame{Seq: uint32(i), Timestamp: uint32(i * proto.FrameSamples), Payload: p}
		if i == 0 {
			f.Flags |= proto.FlagFirst
		}
		if i == n-1 {
			f.Flags |= proto.FlagLast
		}
		b = proto.AppendFrameRecord(b, &f)
	}
	return proto.AppendEndRecord(b, uint64(n*proto.FrameSamples-testPreSkip))
}

func TestS3MessageMultipart(t *testing.T) {
	s3 := s3test.Start(t)
	cfg := s3Config(s3)
	cfg.MaxMessageBytes = 8 << 20
	srv := startServer(t, cfg)
	alice := newUser(t, srv, "alice")
	bob := newUser(t, srv, "bob")
	client, err := minio.New(s3.Addr, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatalf("minio.New: %v", err)
	}
	tests := []struct {
		name   string
		frames int // of 1200-byte packets, 20 ms each
		parts  string
	}{
		{"below 5 MiB", 3000, ""},
		{"above 5 MiB", 5000, "-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := alice.upload(newUpload("@bob"), bigRecords(tt.frames, 1200))
			if res.Error != nil {
				t.Fatalf("upload: %v", res.Error)
			}
			sent := res.GetUpload()
			m, err := srv.meta.FindMessage(context.Background(), sent.Conversation, sent.MessageId)
			if err != nil {
				t.Fatalf("FindMessage: %v", err)
			}
			info, err := client.StatObject(context.Background(), s3.Bucket, "msgs/"+m.BlobKey, minio.StatObjectOptions{})
			if err != nil {
				t.Fatalf("StatObject: %v", err)
			}
			// A multipart object's ETag ends in "-" and its number of parts.
			_, parts, _ := strings.Cut(info.ETag, "-")
			if tt.parts != "" {
				parts = "-" + parts
			}
			if parts != tt.parts {
				t.Errorf("got ETag %q for %d bytes, want the part suffix %q", info.ETag, sent.Bytes, tt.parts)
			}
			res, body := bob.fetch(sent.Conversation, sent.MessageId)
			if res.Error != nil {
				t.Fatalf("fetch: %v", res.Error)
			}
			if uint64(len(body)) != sent.Bytes {
				t.Errorf("got %d bytes fetched, want %d", len(body), sent.Bytes)
			}
		})
	}
}
