package relay

import (
	"bufio"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// waitTime bounds every wait for the relay in the live tests. It is a
// deadline for a test that hangs, not a timing target.
const waitTime = 10 * time.Second

// feed is the client side of an event feed and of the live datagrams of
// one connection.
type feed struct {
	t         testing.TB
	str       *quic.Stream
	events    chan *pb.Event
	datagrams chan proto.Frame
}

// subscribe sends Subscribe on c and starts reading events and
// datagrams.
func (c *testClient) subscribe() *feed {
	c.t.Helper()
	str, r := c.openFeed()
	f := &feed{t: c.t, str: str, events: make(chan *pb.Event, 1024), datagrams: make(chan proto.Frame, 4096)}
	go f.readEvents(r)
	go f.readDatagrams(c.conn)
	return f
}

// openFeed sends Subscribe on c and returns the feed stream and a reader
// of the events after the response.
func (c *testClient) openFeed() (*quic.Stream, *bufio.Reader) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	str, err := c.conn.OpenStreamSync(ctx)
	if err != nil {
		c.t.Fatalf("open feed stream: %v", err)
	}
	if err := proto.WriteMessage(str, &pb.Request{Body: &pb.Request_Subscribe{Subscribe: &pb.Subscribe{}}}); err != nil {
		c.t.Fatalf("write Subscribe: %v", err)
	}
	str.Close()
	r := bufio.NewReader(str)
	var res pb.Response
	if err := proto.ReadMessage(r, &res); err != nil {
		c.t.Fatalf("read Subscribe response: %v", err)
	}
	if res.Error != nil || res.GetEmpty() == nil {
		c.t.Fatalf("Subscribe response %v, want empty", &res)
	}
	return str, r
}

func (f *feed) readEvents(r *bufio.Reader) {
	defer close(f.events)
	for {
		ev := &pb.Event{}
		if err := proto.ReadMessage(r, ev); err != nil {
			return
		}
		f.events <- ev
	}
}

func (f *feed) readDatagrams(conn *quic.Conn) {
	for {
		b, err := conn.ReceiveDatagram(context.Background())
		if err != nil {
			return
		}
		fr, err := proto.ParseFrame(b)
		if err != nil {
			f.t.Errorf("relay sent an invalid datagram: %v", err)
			return
		}
		f.datagrams <- fr
	}
}

// next returns the next event that match accepts, skipping others.
func (f *feed) next(what string, match func(*pb.Event) bool) *pb.Event {
	f.t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-f.events:
			if !ok {
				f.t.Fatalf("feed ended while waiting for %s", what)
			}
			if match(ev) {
				return ev
			}
		case <-timer.C:
			f.t.Fatalf("no %s within %s", what, waitTime)
		}
	}
}

func (f *feed) presence(handle string, online bool) {
	f.t.Helper()
	f.next("presence of "+handle, func(ev *pb.Event) bool {
		p := ev.GetPresence()
		return p != nil && p.Handle == handle && p.Online == online
	})
}

func (f *feed) talkStart(id string) *pb.TalkStart {
	f.t.Helper()
	return f.next("TalkStart "+id, func(ev *pb.Event) bool { return ev.GetTalkStart().GetMessageId() == id }).GetTalkStart()
}

func (f *feed) talkEnd(id string) *pb.TalkEnd {
	f.t.Helper()
	return f.next("TalkEnd "+id, func(ev *pb.Event) bool { return ev.GetTalkEnd().GetMessageId() == id }).GetTalkEnd()
}

func (f *feed) stored(id string) *pb.MessageInfo {
	f.t.Helper()
	return f.next("MessageStored "+id, func(ev *pb.Event) bool { return ev.GetMessageStored().GetMessageId() == id }).GetMessageStored()
}

// frames returns the next n datagrams.
func (f *feed) frames(n int) []proto.Frame {
	f.t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	var got []proto.Frame
	for len(got) < n {
		select {
		case fr := <-f.datagrams:
			got = append(got, fr)
		case <-timer.C:
			f.t.Fatalf("got %d datagrams within %s, want %d", len(got), waitTime, n)
		}
	}
	return got
}

// liveUpload is the client side of a live upload in progress.
type liveUpload struct {
	c      *testClient
	up     *pb.Upload
	str    *quic.Stream
	next   int
	total  int
	noDgrm bool
}

// startLive starts a live upload of total frames to to with live handle
// handle.
func (c *testClient) startLive(to string, handle uint32, total int) *liveUpload {
	c.t.Helper()
	up := newUpload(to)
	up.Live, up.LiveHandle = true, handle
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	str, err := c.conn.OpenStreamSync(ctx)
	if err != nil {
		c.t.Fatalf("open upload stream: %v", err)
	}
	if err := proto.WriteMessage(str, &pb.Request{Body: &pb.Request_Upload{Upload: up}}); err != nil {
		c.t.Fatalf("write Upload: %v", err)
	}
	return &liveUpload{c: c, up: up, str: str, total: total}
}

// liveFrame returns frame seq of a message of total frames.
func liveFrame(seq, total int, handle uint16) proto.Frame {
	f := proto.Frame{Handle: handle, Seq: uint32(seq), Timestamp: uint32(seq * proto.FrameSamples), Payload: testPacket(seq)}
	if seq == 0 {
		f.Flags |= proto.FlagFirst
	}
	if seq == total-1 {
		f.Flags |= proto.FlagLast
	}
	return f
}

// send writes the next n frames as records and, unless noDgrm is set,
// as datagrams.
func (u *liveUpload) send(n int) {
	u.c.t.Helper()
	var recs []byte
	for range n {
		f := liveFrame(u.next, u.total, 0)
		recs = proto.AppendFrameRecord(recs, &f)
		if !u.noDgrm {
			f.Handle = uint16(u.up.LiveHandle)
			if err := u.c.conn.SendDatagram(proto.AppendFrame(nil, &f)); err != nil {
				u.c.t.Fatalf("send datagram %d: %v", u.next, err)
			}
		}
		u.next++
	}
	if _, err := u.str.Write(recs); err != nil {
		u.c.t.Fatalf("write records: %v", err)
	}
}

// end writes the end record, closes the stream and returns the response.
func (u *liveUpload) end() *pb.Response {
	u.c.t.Helper()
	return u.endAt(u.total)
}

// endAt ends the upload as a message of total frames.
func (u *liveUpload) endAt(total int) *pb.Response {
	u.c.t.Helper()
	u.str.SetDeadline(time.Now().Add(waitTime))
	if _, err := u.str.Write(proto.AppendEndRecord(nil, uint64(total*proto.FrameSamples-testPreSkip))); err != nil {
		u.c.t.Fatalf("write end record: %v", err)
	}
	u.str.Close()
	var res pb.Response
	if err := proto.ReadMessage(bufio.NewReader(u.str), &res); err != nil {
		u.c.t.Fatalf("read upload response: %v", err)
	}
	return &res
}

// follow sends FollowMessage and returns the response and a reader of
// the records after it.
func (c *testClient) follow(conv, id string, from uint32) (*pb.Response, *bufio.Reader) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	str, err := c.conn.OpenStreamSync(ctx)
	if err != nil {
		c.t.Fatalf("open follow stream: %v", err)
	}
	str.SetDeadline(time.Now().Add(waitTime))
	req := &pb.Request{Body: &pb.Request_FollowMessage{FollowMessage: &pb.FollowMessage{MessageId: id, Conversation: conv, FromSeq: from}}}
	if err := proto.WriteMessage(str, req); err != nil {
		c.t.Fatalf("write FollowMessage: %v", err)
	}
	str.Close()
	r := bufio.NewReader(str)
	var res pb.Response
	if err := proto.ReadMessage(r, &res); err != nil {
		c.t.Fatalf("read FollowMessage response: %v", err)
	}
	return &res, r
}

// readFollow reads records until the end record and the end of the
// stream, and returns the frames and the end record's length.
func readFollow(t testing.TB, r *bufio.Reader) ([]proto.Frame, uint64) {
	t.Helper()
	var frames []proto.Frame
	for {
		rec, err := proto.ReadRecord(r)
		if err != nil {
			t.Fatalf("read followed record after %d frames: %v", len(frames), err)
		}
		if rec.Kind == proto.RecordEnd {
			if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the end record: %v, want EOF", err)
			}
			return frames, rec.Samples
		}
		frames = append(frames, rec.Frame)
	}
}

// checkSeqs fails unless frames carry sequence numbers from, from+1, ...
// with matching timestamps and payloads.
func checkSeqs(t testing.TB, frames []proto.Frame, from int) {
	t.Helper()
	for i, f := range frames {
		seq := from + i
		if f.Seq != uint32(seq) || f.Timestamp != uint32(seq*proto.FrameSamples) || string(f.Payload) != string(testPacket(seq)) {
			t.Fatalf("frame %d: seq %d timestamp %d, want seq %d timestamp %d and its payload", i, f.Seq, f.Timestamp, seq, seq*proto.FrameSamples)
		}
	}
}

// counter returns the value of c.
func counter(c prometheus.Counter) int {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return int(m.GetCounter().GetValue())
}

// waitCounter waits until c reaches want, for datagrams still in flight.
func waitCounter(t testing.TB, c prometheus.Counter, want int) {
	t.Helper()
	deadline := time.Now().Add(waitTime)
	for counter(c) < want {
		if time.Now().After(deadline) {
			t.Fatalf("counter at %d after %s, want %d", counter(c), waitTime, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
