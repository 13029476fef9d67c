package relay

import (
	"bufio"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

func TestSubscribePresence(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	bob := newUser(t, srv, "bob")
	newUser(t, srv, "carol")
	alice.send("@bob", 2)

	bobFeed := bob.subscribe()
	bobFeed.presence("alice", false)
	aliceFeed := alice.subscribe()
	aliceFeed.presence("bob", true)
	bobFeed.presence("alice", true)

	second := dialWithKey(t, srv, alice.priv, alice.pub)
	second.login()
	second.subscribe()
	alice.conn.CloseWithError(0, "")
	second.conn.CloseWithError(0, "")
	bobFeed.presence("alice", false)
}

func TestSubscribeTwice(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	alice.subscribe()
	res := alice.do(&pb.Request{Body: &pb.Request_Subscribe{Subscribe: &pb.Subscribe{}}})
	if got, want := errCode(res), pb.ErrorCode_ERROR_CODE_CONFLICT; got != want {
		t.Errorf("second Subscribe: code %v, want %v", got, want)
	}
}

func TestSubscribeUnregistered(t *testing.T) {
	srv := startServer(t, Config{})
	c := dial(t, srv)
	c.login()
	res := c.do(&pb.Request{Body: &pb.Request_Subscribe{Subscribe: &pb.Subscribe{}}})
	if got, want := errCode(res), pb.ErrorCode_ERROR_CODE_NOT_REGISTERED; got != want {
		t.Errorf("Subscribe before register: code %v, want %v", got, want)
	}
}

// liveSetup is a relay with alice as the talker and listeners in a
// conversation.
type liveSetup struct {
	srv       *testServer
	alice     *testClient
	aliceFeed *feed
	to, conv  string
	listeners map[string]*feed
}

// newLiveSetup registers alice and the listeners, puts them all in the
// conversation to ("@bob" or "#ops") and subscribes everyone, alice on a
// second connection as well.
func newLiveSetup(t *testing.T, to string, names ...string) *liveSetup {
	srv := startServer(t, Config{})
	ls := &liveSetup{srv: srv, to: to, listeners: map[string]*feed{}}
	ls.alice = newUser(t, srv, "alice")
	clients := map[string]*testClient{}
	for _, n := range names {
		clients[n] = newUser(t, srv, n)
	}
	r, err := proto.ParseRecipient(to)
	if err != nil {
		t.Fatal(err)
	}
	ls.conv = proto.ConversationFor("alice", r)
	if r.Channel {
		ls.alice.do(channelRequest("create", r.Name))
		for _, c := range clients {
			if res := c.do(channelRequest("join", r.Name)); res.Error != nil {
				t.Fatalf("join: %v", res.Error)
			}
		}
	}
	ls.aliceFeed = ls.alice.subscribe()
	for n, c := range clients {
		ls.listeners[n] = c.subscribe()
	}
	other := dialWithKey(t, srv, ls.alice.priv, ls.alice.pub)
	other.login()
	ls.listeners["alice-other"] = other.subscribe()
	return ls
}

func TestLiveUpload(t *testing.T) {
	tests := []struct {
		name      string
		to        string
		listeners []string
		datagrams bool
	}{
		{name: "direct", to: "@bob", listeners: []string{"bob"}, datagrams: true},
		{name: "channel", to: "#ops", listeners: []string{"bob", "carol", "dave"}, datagrams: true},
		{name: "records only", to: "#ops", listeners: []string{"bob", "carol", "dave"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const total = 40
			ls := newLiveSetup(t, tt.to, tt.listeners...)
			u := ls.alice.startLive(tt.to, 7, total)
			u.noDgrm = !tt.datagrams
			id := u.up.MessageId
			handles := map[string]uint32{}
			for n, f := range ls.listeners {
				ts := f.talkStart(id)
				if ts.Sender != "alice" || ts.Conversation != ls.conv || ts.Handle == 0 {
					t.Errorf("%s: TalkStart %v, want sender alice in %s with a handle", n, ts, ls.conv)
				}
				handles[n] = ts.Handle
			}
			u.send(total)
			for n, f := range ls.listeners {
				frames := f.frames(total)
				slices.SortFunc(frames, func(a, b proto.Frame) int { return int(a.Seq) - int(b.Seq) })
				checkSeqs(t, frames, 0)
				for _, fr := range frames {
					if uint32(fr.Handle) != handles[n] {
						t.Fatalf("%s: datagram handle %d, want %d", n, fr.Handle, handles[n])
					}
				}
			}
			res := u.end()
			if res.Error != nil {
				t.Fatalf("live upload: %v", res.Error)
			}
			for n, f := range ls.listeners {
				te := f.talkEnd(id)
				if !te.Stored || te.Frames != total || te.Handle != handles[n] {
					t.Errorf("%s: TalkEnd %v, want stored, %d frames, handle %d", n, te, total, handles[n])
				}
				if info := f.stored(id); info.Frames != total || info.Seq == 0 {
					t.Errorf("%s: MessageStored %v, want %d frames and a sequence", n, info, total)
				}
			}
			ls.aliceFeed.stored(id)
			if n := len(ls.aliceFeed.datagrams); n != 0 {
				t.Errorf("sender's connection got %d datagrams, want 0", n)
			}
			if got, want := counter(ls.srv.metrics.datagramsSent), total*len(ls.listeners); got != want {
				t.Errorf("datagrams sent = %d, want %d (none to the sender's connection)", got, want)
			}
			res, _ = ls.alice.fetch(ls.conv, id)
			if info := res.GetBlob().GetInfo(); info.GetFrames() != total {
				t.Errorf("stored message has %d frames, want %d", info.GetFrames(), total)
			}
		})
	}
}

func TestLiveUploadFailure(t *testing.T) {
	ls := newLiveSetup(t, "@bob", "bob")
	u := ls.alice.startLive("@bob", 1, 10)
	id := u.up.MessageId
	ls.listeners["bob"].talkStart(id)
	u.send(3)
	u.str.CancelWrite(1)
	te := ls.listeners["bob"].talkEnd(id)
	if te.Stored {
		t.Errorf("TalkEnd of a canceled upload: %v, want stored false", te)
	}
}

func TestLiveUploadStalled(t *testing.T) {
	defer func(gap time.Duration) { uploadGap = gap }(uploadGap)
	uploadGap = 300 * time.Millisecond
	ls := newLiveSetup(t, "@bob", "bob")
	u := ls.alice.startLive("@bob", 1, 50)
	id := u.up.MessageId
	ls.listeners["bob"].talkStart(id)
	// The sender goes silent without closing its stream, as a killed
	// client or a dead network leaves it.
	u.send(5)
	te := ls.listeners["bob"].talkEnd(id)
	if te.Stored {
		t.Errorf("TalkEnd of a stalled upload: %v, want stored false", te)
	}
	u.str.SetReadDeadline(time.Now().Add(waitTime))
	var res pb.Response
	if err := proto.ReadMessage(bufio.NewReader(u.str), &res); err != nil {
		t.Fatalf("read upload response: %v", err)
	}
	if !strings.Contains(res.GetError().GetMessage(), "stalled") {
		t.Errorf("got response %v, want an error saying the upload stalled", &res)
	}
}

func TestLiveUploadRejects(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	newUser(t, srv, "bob")
	first := alice.startLive("@bob", 5, 10)
	first.send(1)
	tests := []struct {
		name string
		edit func(up *pb.Upload)
		want pb.ErrorCode
	}{
		{"handle zero", func(up *pb.Upload) { up.Live, up.LiveHandle = true, 0 }, pb.ErrorCode_ERROR_CODE_BAD_REQUEST},
		{"handle too large", func(up *pb.Upload) { up.Live, up.LiveHandle = true, 70000 }, pb.ErrorCode_ERROR_CODE_BAD_REQUEST},
		{"handle without live", func(up *pb.Upload) { up.LiveHandle = 3 }, pb.ErrorCode_ERROR_CODE_BAD_REQUEST},
		{"handle in use", func(up *pb.Upload) { up.Live, up.LiveHandle = true, 5 }, pb.ErrorCode_ERROR_CODE_CONFLICT},
		{"id in progress", func(up *pb.Upload) { up.Live, up.LiveHandle, up.MessageId = true, 6, first.up.MessageId }, pb.ErrorCode_ERROR_CODE_CONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpload("@bob")
			tt.edit(up)
			res := alice.upload(up, testRecords(2, testPreSkip))
			if got := errCode(res); got != tt.want {
				t.Errorf("code %v (%v), want %v", got, res.Error, tt.want)
			}
		})
	}
}

func TestLateSubscriberFollows(t *testing.T) {
	const total, early = 30, 12
	ls := newLiveSetup(t, "#ops", "carol")
	bob := newUser(t, ls.srv, "bob")
	bob.do(channelRequest("join", "ops"))
	u := ls.alice.startLive("#ops", 9, total)
	id := u.up.MessageId
	carol := ls.listeners["carol"]
	carol.talkStart(id)
	u.send(early)
	carol.frames(early)

	bobFeed := bob.subscribe()
	ts := bobFeed.talkStart(id)
	if ts.FramesSoFar != early {
		t.Errorf("late TalkStart frames so far = %d, want %d", ts.FramesSoFar, early)
	}
	res, r := bob.follow(ls.conv, id, 0)
	if hdr := res.GetFollow(); hdr == nil || !hdr.Live || hdr.PreSkip != testPreSkip || hdr.Info.GetSender() != "alice" {
		t.Fatalf("follow header %v, want live from alice with pre-skip %d", res, testPreSkip)
	}
	var wg sync.WaitGroup
	var frames []proto.Frame
	var samples uint64
	wg.Go(func() { frames, samples = readFollow(t, r) })
	u.send(total - early)
	bobFeed.frames(total - early)
	if res := u.end(); res.Error != nil {
		t.Fatalf("live upload: %v", res.Error)
	}
	wg.Wait()
	if len(frames) != total {
		t.Fatalf("followed %d frames, want %d", len(frames), total)
	}
	checkSeqs(t, frames, 0)
	if want := uint64(total*proto.FrameSamples - testPreSkip); samples != want {
		t.Errorf("end record length %d, want %d", samples, want)
	}
}

func TestFollowStored(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	bob := newUser(t, srv, "bob")
	carol := newUser(t, srv, "carol")
	sent := alice.send("@bob", 8)
	tests := []struct {
		name string
		from uint32
	}{
		{"from start", 0},
		{"from middle", 5},
		{"past the end", 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, r := bob.follow(sent.Conversation, sent.MessageId, tt.from)
			hdr := res.GetFollow()
			if hdr == nil || hdr.Live || hdr.PreSkip != testPreSkip || hdr.Info.GetFrames() != 8 {
				t.Fatalf("follow header %v, want stored, pre-skip %d, 8 frames", res, testPreSkip)
			}
			frames, samples := readFollow(t, r)
			if want := max(0, 8-int(tt.from)); len(frames) != want {
				t.Fatalf("got %d frames, want %d", len(frames), want)
			}
			checkSeqs(t, frames, int(tt.from))
			if want := uint64(8*proto.FrameSamples - testPreSkip); samples != want {
				t.Errorf("end record length %d, want %d", samples, want)
			}
		})
	}
	res, _ := carol.follow(sent.Conversation, sent.MessageId, 0)
	if got, want := errCode(res), pb.ErrorCode_ERROR_CODE_FORBIDDEN; got != want {
		t.Errorf("non-member follow: code %v, want %v", got, want)
	}
	res, _ = bob.follow(sent.Conversation, "01AAAAAAAAAAAAAAAAAAAAAAAA", 0)
	if got, want := errCode(res), pb.ErrorCode_ERROR_CODE_NOT_FOUND; got != want {
		t.Errorf("unknown message follow: code %v, want %v", got, want)
	}
}

func TestFollowLiveNonMember(t *testing.T) {
	ls := newLiveSetup(t, "#ops", "bob")
	mallory := newUser(t, ls.srv, "mallory")
	u := ls.alice.startLive("#ops", 2, 5)
	ls.listeners["bob"].talkStart(u.up.MessageId)
	res, _ := mallory.follow(ls.conv, u.up.MessageId, 0)
	if got, want := errCode(res), pb.ErrorCode_ERROR_CODE_FORBIDDEN; got != want {
		t.Errorf("non-member follow of a live message: code %v, want %v", got, want)
	}
}

func TestMarkListened(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	bob := newUser(t, srv, "bob")
	carol := newUser(t, srv, "carol")
	sent := alice.send("@bob", 3)
	aliceFeed := alice.subscribe()
	mark := func(c *testClient, id string) *pb.Response {
		return c.do(&pb.Request{Body: &pb.Request_MarkListened{MarkListened: &pb.MarkListened{MessageId: id, Conversation: sent.Conversation}}})
	}
	if res := mark(bob, sent.MessageId); res.Error != nil {
		t.Fatalf("MarkListened: %v", res.Error)
	}
	ev := aliceFeed.next("Listened", func(ev *pb.Event) bool { return ev.GetListened() != nil }).GetListened()
	if ev.MessageId != sent.MessageId || ev.Handle != "bob" || ev.AtUnixMs == 0 {
		t.Errorf("Listened event %v, want bob on %s", ev, sent.MessageId)
	}
	if res := mark(bob, sent.MessageId); res.Error != nil {
		t.Errorf("second MarkListened: %v", res.Error)
	}
	if got, want := errCode(mark(carol, sent.MessageId)), pb.ErrorCode_ERROR_CODE_FORBIDDEN; got != want {
		t.Errorf("MarkListened by non-member: code %v, want %v", got, want)
	}
	if got, want := errCode(mark(bob, "01AAAAAAAAAAAAAAAAAAAAAAAA")), pb.ErrorCode_ERROR_CODE_NOT_FOUND; got != want {
		t.Errorf("MarkListened of unknown message: code %v, want %v", got, want)
	}

	msg := bob.list(&pb.ListMessages{Conversation: sent.Conversation, All: true}).GetMessages().GetMessages()[0]
	if !msg.Listened || len(msg.ListenedBy) != 0 {
		t.Errorf("bob's listing: listened %v by %v, want true and no list", msg.Listened, msg.ListenedBy)
	}
	msg = alice.list(&pb.ListMessages{Conversation: sent.Conversation, All: true}).GetMessages().GetMessages()[0]
	if msg.Listened || !slices.Equal(msg.ListenedBy, []string{"bob"}) {
		t.Errorf("alice's listing: listened %v by %v, want false by [bob]", msg.Listened, msg.ListenedBy)
	}
}

func TestMessageStoredEvent(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	bob := newUser(t, srv, "bob")
	bobFeed := bob.subscribe()
	aliceFeed := alice.subscribe()
	sent := alice.send("@bob", 2)
	// Alice and bob met in this message, so each learns the other's
	// presence first.
	bobFeed.presence("alice", true)
	if info := bobFeed.stored(sent.MessageId); info.Sender != "alice" || info.Seq != sent.Seq {
		t.Errorf("MessageStored %v, want alice's message at seq %d", info, sent.Seq)
	}
	aliceFeed.presence("bob", true)
}

// stallHook returns a server setup that makes the datagram sender of
// handle's subscriptions block until stalled is closed, as SendDatagram
// does for a listener whose connection's datagram queue stays full.
func stallHook(handle string, stalled <-chan struct{}) func(*Server) {
	return func(srv *Server) {
		srv.subscribeHookForTest = func(sub *subscriber) {
			if sub.handle != handle {
				return
			}
			sub.send = func([]byte) error {
				<-stalled
				return context.Canceled
			}
		}
	}
}

func TestStalledListener(t *testing.T) {
	const total, batch = 300, 20
	stalled := make(chan struct{})
	srv := startServer(t, Config{}, stallHook("slow", stalled))
	t.Cleanup(func() { close(stalled) })
	alice := newUser(t, srv, "alice")
	alice.do(channelRequest("create", "ops"))
	feeds := map[string]*feed{}
	for _, n := range []string{"bob", "carol", "slow"} {
		c := newUser(t, srv, n)
		c.do(channelRequest("join", "ops"))
		feeds[n] = c.subscribe()
	}

	u := alice.startLive("#ops", 3, total)
	for _, f := range feeds {
		f.talkStart(u.up.MessageId)
	}
	for sent := 0; sent < total; sent += batch {
		u.send(batch)
		for _, n := range []string{"bob", "carol"} {
			feeds[n].frames(batch)
		}
	}
	if res := u.end(); res.Error != nil {
		t.Fatalf("live upload: %v", res.Error)
	}

	// The slow listener's writer holds one frame in its stalled send and
	// listenerQueueLen in its queue; the rest is dropped.
	dropped := counter(srv.metrics.fanoutQueueFull)
	if want := total - listenerQueueLen - 1; dropped < want || dropped > want+1 {
		t.Errorf("queue-full drops = %d, want %d or %d", dropped, want, want+1)
	}
	if got := len(feeds["slow"].datagrams); got != 0 {
		t.Errorf("stalled listener got %d datagrams, want 0", got)
	}
}

func TestHostileDatagrams(t *testing.T) {
	const total = 4
	ls := newLiveSetup(t, "@bob", "bob")
	mallory := newUser(t, ls.srv, "mallory")
	u := ls.alice.startLive("@bob", 4, total)
	bob := ls.listeners["bob"]
	bob.talkStart(u.up.MessageId)

	m := ls.srv.metrics
	valid := liveFrame(1, total, 4)
	tests := []struct {
		name    string
		from    *testClient
		payload []byte
		counter func() int
	}{
		{"garbage", ls.alice, []byte("not a voice frame"), func() int { return counter(m.datagramsMalformed) }},
		{"unknown flags", ls.alice, append([]byte{0x80}, proto.AppendFrame(nil, &valid)[1:]...), func() int { return counter(m.datagramsMalformed) }},
		{"oversize", ls.alice, proto.AppendFrame(nil, &proto.Frame{Handle: 4, Seq: 1, Timestamp: 960, Payload: make([]byte, 1050)}), func() int { return counter(m.datagramsTooLarge) }},
		{"wrong handle", ls.alice, frameBytes(liveFrame(1, total, 5)), func() int { return counter(m.datagramsUnknown) }},
		{"another user's handle", mallory, frameBytes(valid), func() int { return counter(m.datagramsUnknown) }},
		{"bad timestamp", ls.alice, frameBytes(proto.Frame{Handle: 4, Seq: 1, Timestamp: 5, Payload: testPacket(1)}), func() int { return counter(m.datagramsInvalid) }},
		{"encrypted", ls.alice, frameBytes(proto.Frame{Flags: proto.FlagEncrypted, KeyID: 1, Handle: 4, Seq: 1, Timestamp: 960, Payload: testPacket(1)}), func() int { return counter(m.datagramsInvalid) }},
		{"40 ms packet", ls.alice, frameBytes(proto.Frame{Handle: 4, Seq: 1, Timestamp: 960, Payload: []byte{2 << 3, 1, 2}}), func() int { return counter(m.datagramsInvalid) }},
		{"beyond max length", ls.alice, frameBytes(proto.Frame{Handle: 4, Seq: 1 << 20, Timestamp: (1 << 20) * 960, Payload: testPacket(1)}), func() int { return counter(m.datagramsInvalid) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, in := tt.counter(), counter(m.datagramsIn)
			if err := tt.from.conn.SendDatagram(tt.payload); err != nil {
				t.Fatalf("send datagram: %v", err)
			}
			waitCounter(t, m.datagramsIn, in+1)
			if got := tt.counter(); got != before+1 {
				t.Errorf("drop counter = %d, want %d", got, before+1)
			}
		})
	}

	u.send(total)
	if res := u.end(); res.Error != nil {
		t.Fatalf("live upload: %v", res.Error)
	}
	frames := bob.frames(total)
	slices.SortFunc(frames, func(a, b proto.Frame) int { return int(a.Seq) - int(b.Seq) })
	checkSeqs(t, frames, 0)
	bob.talkEnd(u.up.MessageId)
	if n := len(bob.datagrams); n != 0 {
		t.Errorf("bob got %d extra datagrams, want none", n)
	}
}

func frameBytes(f proto.Frame) []byte {
	return proto.AppendFrame(nil, &f)
}
