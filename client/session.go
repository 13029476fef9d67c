package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// Defaults for zero fields of SessionOptions.
const (
	DefaultEventBuffer    = 256
	DefaultTalkBuffer     = 256 // about 5 s of 20 ms frames
	DefaultEarlyFrames    = 50  // 1 s of frames held per unannounced handle
	DefaultEarlyHandles   = 8
	DefaultEarlyHold      = 2 * time.Second
	DefaultDatagramBuffer = 16
)

// SessionOptions configures a Session. Zero fields take the defaults.
type SessionOptions struct {
	// Logger receives the session's logs; nil uses the Conn's logger.
	Logger *slog.Logger
	// EventBuffer is the capacity of the Events channel. The feed reader
	// waits while it is full, so a slow consumer delays events but loses
	// none.
	EventBuffer int
	// TalkBuffer is the capacity of each incoming transmission's frame
	// channel. Frames that find it full are dropped and counted.
	TalkBuffer int
	// EarlyFrames and EarlyHandles bound the datagrams held because they
	// overtook their TalkStart event; EarlyHold is how long they are kept.
	EarlyFrames  int
	EarlyHandles int
	EarlyHold    time.Duration
	// DatagramBuffer is the capacity of each live upload's datagram queue.
	DatagramBuffer int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o SessionOptions) withDefaults(c *Conn) SessionOptions {
	if o.Logger == nil {
		o.Logger = c.log
	}
	o.EventBuffer = positiveOr(o.EventBuffer, DefaultEventBuffer)
	o.TalkBuffer = positiveOr(o.TalkBuffer, DefaultTalkBuffer)
	o.EarlyFrames = positiveOr(o.EarlyFrames, DefaultEarlyFrames)
	o.EarlyHandles = positiveOr(o.EarlyHandles, DefaultEarlyHandles)
	o.DatagramBuffer = positiveOr(o.DatagramBuffer, DefaultDatagramBuffer)
	if o.EarlyHold <= 0 {
		o.EarlyHold = DefaultEarlyHold
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func positiveOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Session is a logged-in connection with the relay's event feed: it
// subscribes, decodes events into a channel, routes incoming live
// datagrams to the transmission that their handle names, and sends live
// uploads. The session owns its Conn and closes it on Close. Its methods
// are safe for concurrent use.
type Session struct {
	conn *Conn
	opts SessionOptions
	log  *slog.Logger
	me   string
	sub  *quic.Stream

	events chan Event

	mu      sync.Mutex // guards talks, early, uploads, closed
	talks   map[uint16]*Talk
	early   map[uint16]*earlyFrames
	uploads map[uint16]bool // live handles in use by this connection's uploads
	next    uint16          // last live handle handed out
	closed  bool

	stats SessionStats

	done   chan struct{}
	err    error // cause of the session's end, set before done is closed
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// SessionStats counts what the datagram receiver saw.
type SessionStats struct {
	Datagrams atomic.Int64 // datagrams received
	Invalid   atomic.Int64 // datagrams that are not a valid voice frame
	Unknown   atomic.Int64 // datagrams whose handle no TalkStart announced in time
	Overflow  atomic.Int64 // frames dropped because a transmission's channel was full
}

// Event is one event of the feed. Talk is set for TalkStart and TalkEnd:
// the incoming transmission that the event starts or ends.
type Event struct {
	Msg  *pb.Event
	Talk *Talk
}

// LiveFrame is one voice frame of an incoming transmission with its
// arrival time. The session copies the payload, so the receiver owns it.
type LiveFrame struct {
	proto.Frame
	Arrival time.Time
}

// Talk is an incoming live transmission announced by TalkStart.
type Talk struct {
	Start *pb.TalkStart

	frames  chan LiveFrame
	ended   chan struct{}
	end     atomic.Pointer[pb.TalkEnd]
	dropped atomic.Int64
}

// Frames returns the transmission's frames in arrival order. The channel
// is closed after TalkEnd or when the session ends.
func (t *Talk) Frames() <-chan LiveFrame { return t.frames }

// Ended is closed when the transmission has ended.
func (t *Talk) Ended() <-chan struct{} { return t.ended }

// End returns the TalkEnd event, or nil while the transmission goes on or
// when the session ended before it.
func (t *Talk) End() *pb.TalkEnd { return t.end.Load() }

// Dropped returns the frames dropped because Frames was full.
func (t *Talk) Dropped() int64 { return t.dropped.Load() }

// earlyFrames are datagrams of a handle not announced yet.
type earlyFrames struct {
	first  time.Time
	frames []LiveFrame
}

// OpenSession subscribes to the event feed on c, which must be logged in
// with a registered handle, and starts the feed reader and the datagram
// receiver. ctx bounds the subscription only. The session owns c from
// now on, also when OpenSession fails.
func OpenSession(ctx context.Context, c *Conn, opt SessionOptions) (*Session, error) {
	me, err := handleOf(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	opt = opt.withDefaults(c)
	s := &Session{conn: c, opts: opt, log: opt.Logger, me: me,
		events: make(chan Event, opt.EventBuffer), talks: map[uint16]*Talk{},
		early: map[uint16]*earlyFrames{}, uploads: map[uint16]bool{}, done: make(chan struct{})}
	r, err := s.subscribe(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("subscribe to events: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Go(func() { s.readDatagrams(runCtx) })
	go s.run(runCtx, r)
	return s, nil
}

// handleOf returns the handle logged in on c.
func handleOf(c *Conn) (string, error) {
	login := c.LoginResult()
	if login == nil || !login.GetRegistered() {
		return "", fmt.Errorf("open session on relay %s: this identity has no handle: run vm register HANDLE --relay %s",
			c.Addr(), c.Addr())
	}
	return login.GetHandle(), nil
}

// subscribe sends Subscribe and reads the relay's acceptance.
func (s *Session) subscribe(ctx context.Context) (*bufio.Reader, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, s.conn.opts.RequestTimeout, ErrTimeout)
	defer cancel()
	str, err := s.conn.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, s.conn.ctxErr(ctx, fmt.Errorf("open stream: %w", err))
	}
	stop := context.AfterFunc(ctx, func() { str.CancelRead(0) })
	defer stop()
	req := &pb.Request{Body: &pb.Request_Subscribe{Subscribe: &pb.Subscribe{}}}
	if err := proto.WriteMessage(str, req); err != nil {
		str.CancelRead(0)
		return nil, s.conn.ctxErr(ctx, fmt.Errorf("write request: %w", err))
	}
	r := bufio.NewReader(str)
	var resp pb.Response
	if err := readResponse(r, &resp); err != nil {
		str.CancelRead(0)
		str.CancelWrite(0)
		return nil, s.conn.ctxErr(ctx, err)
	}
	s.sub = str
	return r, nil
}

// Me returns the handle the session is logged in as.
func (s *Session) Me() string { return s.me }

// Conn returns the session's connection for ordinary requests.
func (s *Session) Conn() *Conn { return s.conn }

// Events returns the event feed. It is closed when the session ends.
func (s *Session) Events() <-chan Event { return s.events }

// Done is closed when the session has ended, and Err then returns the cause.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it runs.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Stats returns the datagram receiver's counters.
func (s *Session) Stats() *SessionStats { return &s.stats }

// RTT returns QUIC's smoothed round-trip time estimate of the connection.
func (s *Session) RTT() time.Duration {
	return s.conn.qc.ConnectionStats().SmoothedRTT
}

// Close ends the session, closes its connection and waits for its
// goroutines. Incoming transmissions' frame channels are closed.
func (s *Session) Close() error {
	s.conn.Close()
	s.cancel()
	<-s.done
	return nil
}

// run reads the event feed until it fails, then shuts the session down.
func (s *Session) run(ctx context.Context, r *bufio.Reader) {
	err := s.readEvents(ctx, r)
	s.conn.Close()
	s.cancel()
	s.wg.Wait()
	s.closeTalks()
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("session closed: %w", err)
	}
	s.err = err
	close(s.events)
	close(s.done)
}

// readEvents decodes events and hands them to the consumer.
func (s *Session) readEvents(ctx context.Context, r *bufio.Reader) error {
	for {
		ev := new(pb.Event)
		if err := proto.ReadMessage(r, ev); err != nil {
			return fmt.Errorf("read event feed: %w", err)
		}
		out := Event{Msg: ev}
		switch b := ev.GetBody().(type) {
		case *pb.Event_TalkStart:
			out.Talk = s.startTalk(b.TalkStart)
		case *pb.Event_TalkEnd:
			out.Talk = s.endTalk(b.TalkEnd)
		}
		select {
		case s.events <- out:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// startTalk registers an incoming transmission under its handle and
// hands it the datagrams that arrived before the announcement.
func (s *Session) startTalk(ts *pb.TalkStart) *Talk {
	t := &Talk{Start: ts, frames: make(chan LiveFrame, s.opts.TalkBuffer), ended: make(chan struct{})}
	h := uint16(ts.GetHandle())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		close(t.frames)
		close(t.ended)
		return t
	}
	if old := s.talks[h]; old != nil {
		s.log.Warn("transmission handle reused before its end", "msg_id", old.Start.GetMessageId(), "handle", h)
		old.closeLocked(nil)
	}
	s.talks[h] = t
	if e := s.early[h]; e != nil {
		for _, f := range e.frames {
			t.pushLocked(f)
		}
		delete(s.early, h)
	}
	s.log.Debug("talk started", "msg_id", ts.GetMessageId(), "conv", ts.GetConversation(),
		"peer", ts.GetSender(), "handle", h)
	return t
}

// endTalk ends the transmission that te names and returns it, or nil
// when it is unknown.
func (s *Session) endTalk(te *pb.TalkEnd) *Talk {
	h := uint16(te.GetHandle())
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.talks[h]
	if t == nil || t.Start.GetMessageId() != te.GetMessageId() {
		return nil
	}
	delete(s.talks, h)
	t.closeLocked(te)
	return t
}

// closeTalks ends every transmission when the session ends.
func (s *Session) closeTalks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for h, t := range s.talks {
		t.closeLocked(nil)
		delete(s.talks, h)
	}
}

// pushLocked queues f without blocking, or counts it as dropped.
func (t *Talk) pushLocked(f LiveFrame) bool {
	select {
	case t.frames <- f:
		return true
	default:
		t.dropped.Add(1)
		return false
	}
}

// closeLocked ends t; the session's mutex makes it race-free against
// pushLocked.
func (t *Talk) closeLocked(te *pb.TalkEnd) {
	if te != nil {
		t.end.Store(te)
	}
	close(t.frames)
	close(t.ended)
}

// readDatagrams receives live datagrams and routes them by handle.
func (s *Session) readDatagrams(ctx context.Context) {
	for {
		b, err := s.conn.qc.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		s.stats.Datagrams.Add(1)
		s.route(b, s.opts.Now())
	}
}

// route hands one datagram to its transmission, or holds it briefly when
// its TalkStart has not arrived yet.
func (s *Session) route(b []byte, now time.Time) {
	if len(b) > proto.MaxDatagramSize {
		s.stats.Invalid.Add(1)
		return
	}
	f, err := proto.ParseFrame(b)
	if err != nil {
		s.stats.Invalid.Add(1)
		return
	}
	lf := LiveFrame{Frame: f, Arrival: now}
	lf.Payload = append([]byte(nil), f.Payload...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.talks[f.Handle]; t != nil {
		if !t.pushLocked(lf) {
			s.stats.Overflow.Add(1)
		}
		return
	}
	s.holdEarlyLocked(lf, now)
}

// holdEarlyLocked keeps a datagram of an unannounced handle, within the
// bounds of SessionOptions, and drops held datagrams older than EarlyHold.
func (s *Session) holdEarlyLocked(f LiveFrame, now time.Time) {
	for h, e := range s.early {
		if now.Sub(e.first) > s.opts.EarlyHold {
			s.stats.Unknown.Add(int64(len(e.frames)))
			delete(s.early, h)
		}
	}
	e := s.early[f.Handle]
	if e == nil {
		if len(s.early) >= s.opts.EarlyHandles {
			s.stats.Unknown.Add(1)
			return
		}
		e = &earlyFrames{first: now}
		s.early[f.Handle] = e
	}
	if len(e.frames) >= s.opts.EarlyFrames {
		s.stats.Unknown.Add(1)
		return
	}
	e.frames = append(e.frames, f)
}

// errSessionClosed is returned by requests on a closed session.
var errSessionClosed = errors.New("session closed")
