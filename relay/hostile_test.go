package relay

import (
	"bufio"
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/quic-go/quic-go/quicvarint"
	"github.com/vm-voice/vm/audio/oggopus"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// frames returns the records of n valid frames, without an end record.
func frames(n int) []byte {
	b := testRecords(n, 0)
	end := proto.AppendEndRecord(nil, uint64(n*proto.FrameSamples))
	return b[:len(b)-len(end)]
}

func frameRecord(f proto.Frame) []byte {
	return proto.AppendFrameRecord(nil, &f)
}

func TestHostileUploads(t *testing.T) {
	const maxBytes = 4096
	srv := startServer(t, Config{MaxMessageDuration: time.Second, MaxMessageBytes: maxBytes})
	alice := newUser(t, srv, "alice")
	newUser(t, srv, "bob")
	bad, tooLarge := pb.ErrorCode_ERROR_CODE_BAD_REQUEST, pb.ErrorCode_ERROR_CODE_TOO_LARGE
	tests := []struct {
		name    string
		edit    func(up *pb.Upload)
		records []byte
		want    pb.ErrorCode
	}{
		{name: "wrong seq", records: append(frames(1), frameRecord(proto.Frame{Seq: 5, Timestamp: 960, Payload: testPacket(1)})...), want: bad},
		{name: "wrong timestamp", records: append(frames(1), frameRecord(proto.Frame{Seq: 1, Timestamp: 7, Payload: testPacket(1)})...), want: bad},
		{name: "too long", records: testRecords(51, 0), want: tooLarge},
		{name: "oversize", records: func() []byte {
			var b []byte
			for i := range 40 {
				p := make([]byte, 200)
				p[0] = 15 << 3
				f := proto.Frame{Seq: uint32(i), Timestamp: uint32(i * 960), Payload: p}
				if i == 0 {
					f.Flags = proto.FlagFirst
				}
				b = proto.AppendFrameRecord(b, &f)
			}
			return b
		}(), want: tooLarge},
		{name: "garbage records", records: []byte("\x05hello world, not records"), want: bad},
		{name: "record length above limit", records: quicvarint.Append(nil, 1<<20), want: tooLarge},
		{name: "bad packet TOC", records: frameRecord(proto.Frame{Flags: proto.FlagFirst, Payload: []byte{15<<3 | 3}}), want: bad},
		{name: "40 ms packet", records: frameRecord(proto.Frame{Flags: proto.FlagFirst, Payload: []byte{2 << 3, 1, 2}}), want: bad},
		{name: "no end record", records: frames(10), want: bad},
		{name: "no frames", records: proto.AppendEndRecord(nil, 960), want: bad},
		{name: "end beyond frames", records: append(frames(2), proto.AppendEndRecord(nil, 3000)...), want: bad},
		{name: "end leaves frames empty", records: append(frames(3), proto.AppendEndRecord(nil, 100)...), want: bad},
		{name: "data after end", records: append(testRecords(2, testPreSkip), 0), want: bad},
		{name: "no first flag", records: frameRecord(proto.Frame{Payload: testPacket(0)}), want: bad},
		{name: "encrypted", records: frameRecord(proto.Frame{Flags: proto.FlagFirst | proto.FlagEncrypted, KeyID: 1, Payload: testPacket(0)}), want: bad},
		{name: "bad message id", edit: func(up *pb.Upload) { up.MessageId = "msg.>" }, records: testRecords(2, 0), want: bad},
		{name: "future message id", edit: func(up *pb.Upload) { up.MessageId = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ" }, records: testRecords(2, 0), want: bad},
		{name: "message id of 1970", edit: func(up *pb.Upload) { up.MessageId = idAt(time.UnixMilli(1)) }, records: testRecords(2, 0), want: bad},
		{name: "stereo", edit: func(up *pb.Upload) { up.Channels = 2 }, records: testRecords(2, 0), want: bad},
		{name: "sample rate", edit: func(up *pb.Upload) { up.SampleRate = 44100 }, records: testRecords(2, 0), want: bad},
		{name: "pre-skip", edit: func(up *pb.Upload) { up.PreSkip = 60000 }, records: testRecords(2, 0), want: bad},
		{name: "bad recipient", edit: func(up *pb.Upload) { up.To = "bob" }, records: testRecords(2, 0), want: bad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpload("@bob")
			if tt.edit != nil {
				tt.edit(up)
			}
			res := alice.upload(up, tt.records)
			if got := errCode(res); got != tt.want {
				t.Fatalf("code %v (%v), want %v", got, res.Error, tt.want)
			}
			checkNothingStored(t, srv, alice)
		})
	}
}

// checkNothingStored checks that no message and no blob is stored and
// that the relay still serves requests.
func checkNothingStored(t *testing.T, srv *testServer, c *testClient) {
	t.Helper()
	list := c.list(&pb.ListMessages{Conversation: "d.alice.bob", All: true})
	if list.Error != nil || len(list.GetMessages().Messages) != 0 {
		t.Errorf("messages after a rejected upload = %v, want none", list)
	}
	if files := blobFiles(t, srv.cfg.DataDir); len(files) != 0 {
		t.Errorf("blob files after a rejected upload = %v, want none", files)
	}
}

func TestUploadResetMidStream(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	newUser(t, srv, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	str, err := alice.conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := proto.AppendMessage(nil, &pb.Request{Body: &pb.Request_Upload{Upload: newUpload("@bob")}})
	if _, err := str.Write(append(b, frames(20)...)); err != nil {
		t.Fatal(err)
	}
	// Wait for the relay to have taken the request, then reset.
	str.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	str.Read(make([]byte, 1))
	str.CancelWrite(0x99)
	str.SetReadDeadline(time.Now().Add(10 * time.Second))
	var res pb.Response
	if err := proto.ReadMessage(bufio.NewReader(str), &res); err == nil && res.Error == nil {
		t.Fatalf("reset upload answered %v, want an error", &res)
	}
	checkNothingStored(t, srv, alice)
}

// FuzzUploadRecords feeds arbitrary bytes to the upload record reader and
// checker, as the relay does with a client's upload stream.
func FuzzUploadRecords(f *testing.F) {
	f.Add(testRecords(3, testPreSkip))
	f.Add(frames(2))
	f.Add(append(testRecords(1, 0), 1, 2, 3))
	f.Add([]byte{0x40, 0x10, 1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		chk := newFrameChecker(time.Second, 4096, testPreSkip)
		var out bytes.Buffer
		ow, err := oggopus.NewWriter(&out, 1, oggopus.Head{Channels: 1, PreSkip: testPreSkip}, oggopus.Tags{})
		if err != nil {
			t.Fatal(err)
		}
		err = readRecords(bufio.NewReader(bytes.NewReader(data)), chk, ow, nil)
		if err != nil {
			return
		}
		if err := ow.Close(chk.samples); err != nil {
			t.Fatalf("records passed the checker but Close failed: %v", err)
		}
		file, err := oggopus.Read(&out, 1<<20)
		if err != nil {
			t.Fatalf("records passed the checker but the file does not read back: %v", err)
		}
		if file.Samples != chk.samples || len(file.Packets) != chk.frames {
			t.Fatalf("file has %d samples in %d packets, want %d in %d", file.Samples, len(file.Packets), chk.samples, chk.frames)
		}
	})
}
