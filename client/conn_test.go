package client

import (
	"bufio"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

func TestDialPinsOnFirstUse(t *testing.T) {
	s := newTestServer(t, func(*quic.Conn, *quic.Stream, *bufio.Reader, *pb.Request) {})
	id, _ := GenerateIdentity()
	pins := &KnownRelays{Path: filepath.Join(t.TempDir(), KnownRelaysFile)}

	c, err := Dial(t.Context(), s.addr(), id, pins, Options{})
	if err != nil {
		t.Fatalf("first Dial: %v", err)
	}
	c.Close()
	if !c.FirstUse() || c.Fingerprint() != s.fingerprint {
		t.Errorf("got first use %v and key %s, want true and %s", c.FirstUse(), c.Fingerprint(), s.fingerprint)
	}
	data, _ := os.ReadFile(pins.Path)
	if want := s.addr() + " " + s.fingerprint + "\n"; string(data) != want {
		t.Errorf("got known_relays %q, want %q", data, want)
	}

	c, err = Dial(t.Context(), s.addr(), id, pins, Options{})
	if err != nil {
		t.Fatalf("second Dial: %v", err)
	}
	c.Close()
	if c.FirstUse() {
		t.Error("got first use on the second dial, want false")
	}
}

func TestDialRejectsChangedKey(t *testing.T) {
	s := newTestServer(t, func(*quic.Conn, *quic.Stream, *bufio.Reader, *pb.Request) {})
	id, _ := GenerateIdentity()
	pins := &KnownRelays{Path: filepath.Join(t.TempDir(), KnownRelaysFile)}
	old := "sha256:" + strings.Repeat("0", 64)
	if err := pins.Add(s.addr(), old); err != nil {
		t.Fatal(err)
	}

	_, err := Dial(t.Context(), s.addr(), id, pins, Options{})
	var changed *KeyChangedError
	if !errors.As(err, &changed) {
		t.Fatalf("got %v, want *KeyChangedError", err)
	}
	if changed.Got != s.fingerprint || changed.Pinned.Fingerprint != old || changed.Pinned.Line != 1 {
		t.Errorf("got %+v, want key %s against pin %s on line 1", changed, s.fingerprint, old)
	}
	if IsTransient(err) {
		t.Error("got a transient changed key, want permanent")
	}
	data, _ := os.ReadFile(pins.Path)
	if strings.Count(string(data), "\n") != 1 {
		t.Errorf("got known_relays %q, want the old pin only", data)
	}
}

// loginHandler checks the login signature against the server's own view of
// the TLS exporter, as the relay does.
func loginHandler(t *testing.T, result *pb.LoginResult) func(*quic.Conn, *quic.Stream, *bufio.Reader, *pb.Request) {
	return func(qc *quic.Conn, str *quic.Stream, r *bufio.Reader, req *pb.Request) {
		login := req.GetLogin()
		if login == nil {
			respond(str, &pb.Response{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_BAD_REQUEST}})
			return
		}
		cs := qc.ConnectionState().TLS
		exp, _ := cs.ExportKeyingMaterial(proto.ExporterLabel, nil, proto.ExporterLength)
		msg := append([]byte(proto.LoginContext), exp...)
		if !ed25519.Verify(login.GetPublicKey(), msg, login.GetSignature()) {
			respond(str, &pb.Response{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNAUTHENTICATED, Message: "bad signature"}})
			return
		}
		respond(str, &pb.Response{Body: &pb.Response_Login{Login: result}})
	}
}

func TestLoginSignatureBoundToSession(t *testing.T) {
	want := &pb.LoginResult{Registered: true, Handle: "alice", MaxMessageMs: 1000}
	s := newTestServer(t, loginHandler(t, want))
	c := dialTest(t, s, Options{})
	got, err := c.Login(t.Context())
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if got.GetHandle() != "alice" || c.LoginResult() != got {
		t.Errorf("got login result %v, want handle alice", got)
	}
}

func TestRemoteErrorReturned(t *testing.T) {
	s := newTestServer(t, func(_ *quic.Conn, str *quic.Stream, _ *bufio.Reader, _ *pb.Request) {
		respond(str, &pb.Response{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_NOT_FOUND, Message: "no channel #x"}})
	})
	c := dialTest(t, s, Options{})
	_, err := c.JoinChannel(t.Context(), "x")
	if !IsCode(err, pb.ErrorCode_ERROR_CODE_NOT_FOUND) {
		t.Fatalf("got %v, want ERROR_CODE_NOT_FOUND", err)
	}
	if want := "join #x: relay returned not_found: no channel #x"; err.Error() != want {
		t.Errorf("got message %q, want %q", err, want)
	}
}

func TestRequestTimesOut(t *testing.T) {
	s := newTestServer(t, func(_ *quic.Conn, str *quic.Stream, _ *bufio.Reader, _ *pb.Request) {
		// Never respond: wait until the client gives up and cancels.
		<-str.Context().Done()
	})
	c := dialTest(t, s, Options{RequestTimeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := c.ListConversations(t.Context())
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if !IsTransient(err) {
		t.Error("got a permanent timeout, want transient")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("got %s until the timeout, want about 200ms", elapsed)
	}
}

func TestFetchRejectsHugeBlob(t *testing.T) {
	s := newTestServer(t, func(_ *quic.Conn, str *quic.Stream, _ *bufio.Reader, req *pb.Request) {
		info := &pb.MessageInfo{MessageId: req.GetFetchMessage().GetMessageId(), Conversation: "c.ops"}
		respond(str, &pb.Response{Body: &pb.Response_Blob{Blob: &pb.BlobHeader{Info: info, Size: 10 << 30}}})
		str.Write(make([]byte, 1<<20))
	})
	c := dialTest(t, s, Options{})
	_, _, err := c.Fetch(t.Context(), "c.ops", idA)
	if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "10737418240") {
		t.Fatalf("got %v, want ErrBadResponse naming the size", err)
	}
}

func TestFetchRejectsBadBlobs(t *testing.T) {
	tests := []struct {
		name string
		id   string
		size uint64
		body []byte
		want error
	}{
		{name: "not Ogg", id: idA, size: 12, body: []byte("hello world!"), want: ErrBadResponse},
		{name: "short body", id: idA, size: 100, body: []byte("short"), want: nil},
		{name: "other message", id: idB, size: 4, body: []byte("OggS"), want: ErrBadResponse},
		{name: "empty", id: idA, size: 0, want: ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, func(_ *quic.Conn, str *quic.Stream, _ *bufio.Reader, _ *pb.Request) {
				info := &pb.MessageInfo{MessageId: tt.id, Conversation: "c.ops"}
				respond(str, &pb.Response{Body: &pb.Response_Blob{Blob: &pb.BlobHeader{Info: info, Size: tt.size}}})
				str.Write(tt.body)
			})
			c := dialTest(t, s, Options{})
			_, blob, err := c.Fetch(t.Context(), "c.ops", idA)
			if err == nil || blob != nil {
				t.Fatalf("got blob of %d bytes and error %v, want an error", len(blob), err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSendWritesRecords(t *testing.T) {
	enc := &audio.Encoded{
		Packets:   [][]byte{{0x08, 1}, {0x08, 2}, {0x08, 3}},
		PreSkip:   312,
		Samples:   2500,
		InputRate: 16000,
	}
	type upload struct {
		req     *pb.Upload
		records []proto.Record
	}
	got := make(chan upload, 1)
	s := newTestServer(t, func(_ *quic.Conn, str *quic.Stream, r *bufio.Reader, req *pb.Request) {
		u := upload{req: req.GetUpload()}
		for {
			rec, err := proto.ReadRecord(r)
			if err != nil {
				break
			}
			rec.Frame.Payload = append([]byte(nil), rec.Frame.Payload...)
			u.records = append(u.records, rec)
		}
		got <- u
		respond(str, &pb.Response{Body: &pb.Response_Upload{Upload: &pb.UploadResult{
			MessageId: u.req.GetMessageId(), Conversation: "c.ops", Seq: 7,
		}}})
	})
	c := dialTest(t, s, Options{})
	id := NewMessageID()
	res, err := c.Send(t.Context(), proto.Recipient{Channel: true, Name: "ops"}, enc, id)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.GetSeq() != 7 {
		t.Errorf("got seq %d, want 7", res.GetSeq())
	}
	u := <-got
	if u.req.GetTo() != "#ops" || u.req.GetPreSkip() != 312 || u.req.GetInputSampleRate() != 16000 {
		t.Errorf("got upload request %v", u.req)
	}
	if len(u.records) != 4 {
		t.Fatalf("got %d records, want 3 frames and an end", len(u.records))
	}
	wantFlags := []uint8{proto.FlagFirst, 0, proto.FlagLast}
	for i, rec := range u.records[:3] {
		f := rec.Frame
		if rec.Kind != proto.RecordFrame || f.Seq != uint32(i) || f.Timestamp != uint32(i*960) || f.Flags != wantFlags[i] {
			t.Errorf("record %d: got %+v", i, rec)
		}
		if f.Payload[1] != byte(i+1) {
			t.Errorf("record %d: got payload %v", i, f.Payload)
		}
	}
	if end := u.records[3]; end.Kind != proto.RecordEnd || end.Samples != 2500 {
		t.Errorf("got end record %+v, want 2500 samples", end)
	}
}

func TestSendChecksLimits(t *testing.T) {
	s := newTestServer(t, loginHandler(t, &pb.LoginResult{Registered: true, Handle: "a", MaxMessageMs: 1000}))
	c := dialTest(t, s, Options{})
	if _, err := c.Login(t.Context()); err != nil {
		t.Fatal(err)
	}
	long := &audio.Encoded{Packets: [][]byte{{1}}, Samples: 2 * proto.SampleRate}
	_, err := c.Send(t.Context(), proto.Recipient{Name: "b"}, long, NewMessageID())
	if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "lasts 2s") || !strings.Contains(err.Error(), "limit of 1s") {
		t.Errorf("got %v, want ErrTooLong naming 2s and 1s", err)
	}
	_, err = c.Send(t.Context(), proto.Recipient{Name: "b"}, &audio.Encoded{}, NewMessageID())
	if err == nil {
		t.Error("got no error for an empty message, want one")
	}
	_, err = c.Send(t.Context(), proto.Recipient{Name: "b"}, long, "not-a-ulid")
	if err == nil {
		t.Error("got no error for an invalid message id, want one")
	}
}
