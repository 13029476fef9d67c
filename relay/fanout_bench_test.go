package relay

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// benchUsers is how many users the listener connections of
// BenchmarkFanout belong to; each user has listeners/benchUsers of them.
const benchUsers = 20

// BenchmarkFanout sends one talker's live frames, 50 per second with
// 60-byte payloads, as datagrams and records through an in-process relay
// to N subscribed listener connections. One frame is one iteration. It
// reports the latency from the talker's send to a listener's receive
// (p50, p99, max), the share of datagrams delivered, and the process CPU
// time per delivered datagram. Talker, listeners and relay share the
// process, so both latency and CPU include the clients' QUIC work and
// are upper bounds of what the relay adds. Run it with:
//
//	go test -run '^$' -bench Fanout -benchtime 1000x ./relay
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{20, 200} {
		b.Run(fmt.Sprintf("listeners=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, listeners int) {
	var internal relayLatency
	srv := startServer(b, Config{}, func(s *Server) { s.sentHookForTest = internal.add })
	talker := newUser(b, srv, "talker")
	talker.do(channelRequest("create", "ops"))
	sinks := make([]*latencySink, 0, listeners)
	var users []*testClient
	for i := range listeners {
		c := benchListener(b, srv, users, i)
		if i < benchUsers {
			users = append(users, c)
		}
		sinks = append(sinks, newLatencySink(b, c))
	}
	u := talker.startLive("#ops", 1, 0)
	for _, s := range sinks {
		s.waitTalkStart(b)
	}

	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	ticker := time.NewTicker(proto.FrameDuration)
	defer ticker.Stop()
	for b.Loop() {
		<-ticker.C
		sendTimed(b, u, 0)
	}
	sendTimed(b, u, proto.FlagLast)
	sent := u.next
	if res := u.endAt(sent); res.Error != nil {
		b.Fatalf("live upload: %v", res.Error)
	}
	waitDelivered(sinks, sent)
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	reportFanout(b, sinks, sent, cpuTime(&after)-cpuTime(&before))
	internal.report(b)
}

// relayLatency collects the relay's own share of the latency: from a
// frame's intake to the return of SendDatagram, which queues the
// datagram in the listener connection for QUIC to send.
type relayLatency struct {
	mu  sync.Mutex
	all []time.Duration
}

func (r *relayLatency) add(d time.Duration) {
	r.mu.Lock()
	r.all = append(r.all, d)
	r.mu.Unlock()
}

func (r *relayLatency) report(b *testing.B) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.all) == 0 {
		return
	}
	slices.Sort(r.all)
	b.ReportMetric(float64(r.all[len(r.all)/2].Microseconds()), "relay-p50-µs")
	b.ReportMetric(float64(r.all[len(r.all)*99/100].Microseconds()), "relay-p99-µs")
}

// benchListener returns connection i of the listeners: the first
// benchUsers register users who join #ops, the others log in as one of
// them.
func benchListener(b *testing.B, srv *testServer, users []*testClient, i int) *testClient {
	if i < benchUsers {
		c := newUser(b, srv, fmt.Sprintf("listener%d", i))
		c.do(channelRequest("join", "ops"))
		return c
	}
	first := users[i%benchUsers]
	c := dialWithKey(b, srv, first.priv, first.pub)
	c.login()
	return c
}

// sendTimed sends the talker's next frame with the current time in its
// payload.
func sendTimed(b *testing.B, u *liveUpload, flags uint8) {
	seq := u.next
	p := testPacket(seq)
	binary.BigEndian.PutUint64(p[1:], uint64(time.Now().UnixNano()))
	f := proto.Frame{Flags: flags, Handle: uint16(u.up.LiveHandle), Seq: uint32(seq), Timestamp: uint32(seq * proto.FrameSamples), Payload: p}
	if seq == 0 {
		f.Flags |= proto.FlagFirst
	}
	if err := u.c.conn.SendDatagram(proto.AppendFrame(nil, &f)); err != nil {
		b.Fatalf("send datagram: %v", err)
	}
	f.Handle = 0
	if _, err := u.str.Write(proto.AppendFrameRecord(nil, &f)); err != nil {
		b.Fatalf("write record: %v", err)
	}
	u.next++
}

// latencySink receives one listener connection's datagrams and records
// their latency.
type latencySink struct {
	talkStart chan struct{}
	delivered atomic.Int64
	// mu guards latencies.
	mu        sync.Mutex
	latencies []time.Duration
}

func newLatencySink(b *testing.B, c *testClient) *latencySink {
	s := &latencySink{talkStart: make(chan struct{}), latencies: make([]time.Duration, 0, 4096)}
	_, r := c.openFeed()
	go s.readEvents(r)
	go s.receive(c.conn)
	return s
}

// readEvents closes talkStart at the first TalkStart and discards the
// rest of the feed.
func (s *latencySink) readEvents(r *bufio.Reader) {
	started := false
	for {
		var ev pb.Event
		if err := proto.ReadMessage(r, &ev); err != nil {
			return
		}
		if ev.GetTalkStart() != nil && !started {
			started = true
			close(s.talkStart)
		}
	}
}

func (s *latencySink) waitTalkStart(b *testing.B) {
	select {
	case <-s.talkStart:
	case <-time.After(waitTime):
		b.Fatalf("no TalkStart within %s", waitTime)
	}
}

func (s *latencySink) receive(conn *quic.Conn) {
	for {
		d, err := conn.ReceiveDatagram(context.Background())
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if len(d) < proto.FrameHeaderSize+9 {
			continue
		}
		sentAt := int64(binary.BigEndian.Uint64(d[proto.FrameHeaderSize+1:]))
		s.mu.Lock()
		s.latencies = append(s.latencies, time.Duration(now-sentAt))
		s.mu.Unlock()
		s.delivered.Add(1)
	}
}

// waitDelivered waits until every sink has received all sent datagrams
// or, when some are lost, until a second has passed without progress.
func waitDelivered(sinks []*latencySink, sent int) {
	total := func() int64 {
		var n int64
		for _, s := range sinks {
			n += s.delivered.Load()
		}
		return n
	}
	want := int64(sent * len(sinks))
	last, idle := total(), 0
	for last < want && idle < 100 {
		time.Sleep(10 * time.Millisecond)
		if n := total(); n != last {
			last, idle = n, 0
			continue
		}
		idle++
	}
}

func reportFanout(b *testing.B, sinks []*latencySink, sent int, cpu time.Duration) {
	var all []time.Duration
	for _, s := range sinks {
		s.mu.Lock()
		all = append(all, s.latencies...)
		s.mu.Unlock()
	}
	if len(all) == 0 {
		b.Fatal("no datagram delivered")
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(all[len(all)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(len(all))/float64(sent*len(sinks)), "delivered/expected")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(all)), "cpu-ns/dgram")
}

func cpuTime(r *syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
