package proto

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/quic-go/quic-go/quicvarint"
	gproto "google.golang.org/protobuf/proto"

	"github.com/vm-voice/vm/proto/pb"
)

func TestMessageRoundTrip(t *testing.T) {
	req := &pb.Request{Body: &pb.Request_Upload{Upload: &pb.Upload{
		MessageId: "01JE7ZQ6D4Y3W3ZB0Q3F7M3N2K", To: "#ops", SampleRate: 48000, Channels: 1, PreSkip: 312,
	}}}
	var buf bytes.Buffer
	if err := WriteMessage(&buf, req); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("trailing")
	r := bufio.NewReader(&buf)
	var got pb.Request
	if err := ReadMessage(r, &got); err != nil {
		t.Fatal(err)
	}
	if !gproto.Equal(&got, req) {
		t.Errorf("got %v, want %v", &got, req)
	}
	rest, _ := r.ReadString(0)
	if rest != "trailing" {
		t.Errorf("ReadMessage consumed past the message: rest %q", rest)
	}
}

func TestReadMessageRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"oversize length", quicvarint.Append(nil, MaxControlSize+1), ErrTooLarge},
		{"huge length", quicvarint.Append(nil, 1<<60), ErrTooLarge},
		{"short body", append(quicvarint.Append(nil, 10), 1, 2), ErrTruncated},
		{"bad protobuf", append(quicvarint.Append(nil, 2), 0xff, 0xff), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m pb.Request
			err := ReadMessage(bufio.NewReader(bytes.NewReader(tt.in)), &m)
			if !errors.Is(err, tt.want) {
				t.Errorf("got error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestFrameRoundTrip(t *testing.T) {
	f := Frame{Flags: FlagFirst, Handle: 7, Seq: 1 << 20, Timestamp: 960 << 20, Payload: []byte{0x48, 1, 2, 3}}
	got, err := ParseFrame(AppendFrame(nil, &f))
	if err != nil {
		t.Fatal(err)
	}
	if got.Flags != f.Flags || got.Handle != f.Handle || got.Seq != f.Seq || got.Timestamp != f.Timestamp ||
		!bytes.Equal(got.Payload, f.Payload) {
		t.Errorf("got %+v, want %+v", got, f)
	}
}

func TestParseFrameRejects(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"short", make([]byte, FrameHeaderSize-1), ErrTruncated},
		{"no payload", make([]byte, FrameHeaderSize), ErrMalformed},
		{"unknown flag", append([]byte{0x80}, make([]byte, FrameHeaderSize)...), ErrMalformed},
		{"key id in plaintext", append([]byte{0, 3}, make([]byte, FrameHeaderSize)...), ErrMalformed},
		{"oversize", make([]byte, FrameHeaderSize+MaxFramePayload+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseFrame(tt.frame); !errors.Is(err, tt.want) {
				t.Errorf("got error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRecordRoundTrip(t *testing.T) {
	var b []byte
	f := Frame{Flags: FlagLast, Seq: 3, Timestamp: 3 * FrameSamples, Payload: []byte{0x48, 9}}
	b = AppendFrameRecord(b, &f)
	b = AppendEndRecord(b, 123456)
	r := bufio.NewReader(bytes.NewReader(b))
	rec, err := ReadRecord(r)
	if err != nil || rec.Kind != RecordFrame || rec.Frame.Seq != 3 {
		t.Fatalf("got record %+v, error %v, want frame 3", rec, err)
	}
	rec, err = ReadRecord(r)
	if err != nil || rec.Kind != RecordEnd || rec.Samples != 123456 {
		t.Fatalf("got record %+v, error %v, want end of 123456 samples", rec, err)
	}
}

func TestParseRecordRejects(t *testing.T) {
	tests := map[string][]byte{
		"empty":        nil,
		"unknown kind": {9, 1},
		"end no value": {RecordEnd},
		"end trailing": {RecordEnd, 1, 2},
		"short frame":  {RecordFrame, 1, 2},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseRecord(in); err == nil {
				t.Error("got no error")
			}
		})
	}
}

func TestNames(t *testing.T) {
	for _, s := range []string{"a", "bob", "ops-team", "x_1", strings.Repeat("a", MaxNameLen)} {
		if !ValidName(s) {
			t.Errorf("ValidName(%q) = false, want true", s)
		}
	}
	for _, s := range []string{"", "-a", "Bob", "a.b", "a b", "é", strings.Repeat("a", MaxNameLen+1)} {
		if ValidName(s) {
			t.Errorf("ValidName(%q) = true, want false", s)
		}
	}
	if got := ConversationFor("zed", Recipient{Name: "amy"}); got != "d.amy.zed" {
		t.Errorf("got conversation %q, want d.amy.zed", got)
	}
	if got := DisplayConversation("d.amy.zed", "amy"); got != "@zed" {
		t.Errorf("got display %q, want @zed", got)
	}
	if _, err := ParseRecipient("bob"); err == nil {
		t.Error("ParseRecipient(bob) returned no error")
	}
	if _, _, err := ParseConversation("d.zed.amy"); err == nil {
		t.Error("ParseConversation accepted unsorted handles")
	}
}

func FuzzReadMessage(f *testing.F) {
	good, _ := AppendMessage(nil, &pb.Request{Body: &pb.Request_Login{Login: &pb.Login{PublicKey: make([]byte, 32)}}})
	f.Add(good)
	f.Add([]byte{0x40, 0x05, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		var m pb.Request
		_ = ReadMessage(bufio.NewReader(bytes.NewReader(in)), &m)
	})
}

func FuzzParseRecord(f *testing.F) {
	fr := Frame{Flags: FlagFirst, Payload: []byte{0x48, 1}}
	f.Add(AppendFrame([]byte{RecordFrame}, &fr))
	f.Add([]byte{RecordEnd, 0x44, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		rec, err := ParseRecord(in)
		if err != nil {
			return
		}
		if rec.Kind == RecordFrame && len(rec.Frame.Payload) > MaxFramePayload {
			t.Errorf("accepted payload of %d bytes", len(rec.Frame.Payload))
		}
	})
}
