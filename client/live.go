package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// ErrNotLast is returned by LiveUpload.Finish when no frame was written
// with the last flag, which the relay requires of the final frame.
var ErrNotLast = errors.New("live upload: final frame not marked last")

// LiveUpload is a message that is uploaded while it is recorded. Each
// frame goes to the relay twice: as a record on the upload stream, which
// QUIC delivers reliably so the stored copy is complete, and as a
// datagram, which the relay forwards to online members at once.
//
// WriteFrame and Finish are meant for one goroutine, the capture loop.
type LiveUpload struct {
	s      *Session
	str    *quic.Stream
	r      *bufio.Reader
	id     string
	to     proto.Recipient
	handle uint16

	seq    uint32
	last   bool
	stored bool // the relay acknowledged the message
	rec    []byte

	dgrams  chan []byte
	dropped atomic.Int64 // datagram copies dropped because the queue was full
	sent    atomic.Int64 // datagram copies handed to QUIC
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	stop    func() bool
	once    sync.Once
}

// StartLive opens a live upload of message msgID to recipient to. preSkip
// is the encoder's pre-skip in 48 kHz samples. ctx bounds the whole
// upload: cancelling it aborts the stream, and the relay then stores
// nothing.
func (s *Session) StartLive(ctx context.Context, to proto.Recipient, msgID string, preSkip int) (*LiveUpload, error) {
	id, err := ulid.ParseStrict(msgID)
	if err != nil {
		return nil, fmt.Errorf("start live upload: invalid message id %q: %w", msgID, err)
	}
	h, err := s.takeHandle()
	if err != nil {
		return nil, err
	}
	u, err := s.openLive(ctx, to, id, h, preSkip)
	if err != nil {
		s.releaseHandle(h)
		return nil, fmt.Errorf("start live upload to %s: %w", to, err)
	}
	return u, nil
}

// openLive opens the upload stream and starts the datagram sender.
func (s *Session) openLive(ctx context.Context, to proto.Recipient, id ulid.ULID, h uint16, preSkip int) (*LiveUpload, error) {
	ctx, cancel := context.WithCancel(ctx)
	str, err := s.conn.qc.OpenStreamSync(ctx)
	if err != nil {
		cancel()
		return nil, s.conn.ctxErr(ctx, fmt.Errorf("open stream: %w", err))
	}
	req := &pb.Request{Body: &pb.Request_Upload{Upload: &pb.Upload{
		MessageId: id.String(), To: to.String(), SampleRate: proto.SampleRate, Channels: 1,
		PreSkip: uint32(preSkip), InputSampleRate: proto.SampleRate,
		CreatedUnixMs: int64(id.Time()), Live: true, LiveHandle: uint32(h),
	}}}
	if err := proto.WriteMessage(str, req); err != nil {
		str.CancelWrite(0)
		str.CancelRead(0)
		cancel()
		return nil, fmt.Errorf("write request: %w", err)
	}
	u := &LiveUpload{s: s, str: str, r: bufio.NewReader(str), id: id.String(), to: to, handle: h,
		dgrams: make(chan []byte, s.opts.DatagramBuffer), cancel: cancel}
	u.stop = context.AfterFunc(ctx, func() {
		str.CancelWrite(0)
		str.CancelRead(0)
	})
	u.wg.Go(func() { u.sendDatagrams(ctx) })
	return u, nil
}

// takeHandle reserves a live handle unused by this connection's uploads.
func (s *Session) takeHandle() (uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("start live upload: %w", errSessionClosed)
	}
	for range 1 << 16 {
		s.next++
		if s.next != 0 && !s.uploads[s.next] {
			s.uploads[s.next] = true
			return s.next, nil
		}
	}
	return 0, errors.New("start live upload: every live handle is in use")
}

func (s *Session) releaseHandle(h uint16) {
	s.mu.Lock()
	delete(s.uploads, h)
	s.mu.Unlock()
}

// MessageID returns the id of the message being uploaded.
func (u *LiveUpload) MessageID() string { return u.id }

// Handle returns the live handle that the upload's datagrams carry.
func (u *LiveUpload) Handle() uint16 { return u.handle }

// Frames returns the number of frames written so far.
func (u *LiveUpload) Frames() int { return int(u.seq) }

// DatagramsDropped returns how many datagram copies were dropped because
// the send queue was full. Their records still reached the relay.
func (u *LiveUpload) DatagramsDropped() int64 { return u.dropped.Load() }

// frameWriteTimeout bounds how long WriteFrame waits for QUIC to take a
// record. QUIC holds records back while its congestion window is full of
// unacknowledged data, which at the talk bit rate means the relay has not
// acknowledged anything for a while: the relay or the network is down.
// Waiting longer would stop the capture loop from reading the microphone.
// NOTE: 500 ms is a judgement, not a measured bound.
const frameWriteTimeout = 500 * time.Millisecond

// ErrUploadStalled is wrapped by the error of WriteFrame when QUIC did not
// take a record within frameWriteTimeout.
var ErrUploadStalled = errors.New("the relay stopped acknowledging audio")

// WriteFrame sends one 20 ms Opus packet: it queues the datagram copy
// without blocking, dropping it when the queue is full, and writes the
// record to the stream, which blocks while QUIC's flow and congestion
// control hold it back, for at most frameWriteTimeout. last marks the
// final frame of the message. After an error the stream may hold part of
// a record, so the caller must Abort the upload.
func (u *LiveUpload) WriteFrame(pkt []byte, last bool) error {
	if u.last {
		return fmt.Errorf("live upload %s: frame after the last frame", u.id)
	}
	f := proto.Frame{Seq: u.seq, Timestamp: u.seq * proto.FrameSamples, Payload: pkt}
	if u.seq == 0 {
		f.Flags |= proto.FlagFirst
	}
	if last {
		f.Flags |= proto.FlagLast
	}
	u.queueDatagram(f)
	// Records carry handle 0, as every upload record does; only the
	// datagram copy names the live handle.
	u.rec = proto.AppendFrameRecord(u.rec[:0], &f)
	u.str.SetWriteDeadline(time.Now().Add(frameWriteTimeout))
	_, err := u.str.Write(u.rec)
	u.str.SetWriteDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("live upload %s: write frame %d: %w: no room to send for %s: %w",
			u.id, u.seq, ErrUploadStalled, frameWriteTimeout, err)
	}
	if err != nil {
		return fmt.Errorf("live upload %s: write frame %d: %w", u.id, u.seq, err)
	}
	u.seq++
	u.last = last
	return nil
}

// queueDatagram queues the datagram copy of f, or drops it.
func (u *LiveUpload) queueDatagram(f proto.Frame) {
	f.Handle = u.handle
	if proto.FrameHeaderSize+len(f.Payload) > proto.MaxDatagramSize {
		u.dropped.Add(1)
		return
	}
	select {
	case u.dgrams <- proto.AppendFrame(nil, &f):
	default:
		u.dropped.Add(1)
	}
}

// sendDatagrams hands queued datagrams to QUIC, whose SendDatagram blocks
// while the connection's own datagram queue is full.
func (u *LiveUpload) sendDatagrams(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b, ok := <-u.dgrams:
			if !ok {
				return
			}
			if err := u.s.conn.qc.SendDatagram(b); err != nil {
				u.dropped.Add(1)
				continue
			}
			u.sent.Add(1)
		}
	}
}

// Finish writes the end record with the message length in 48 kHz
// samples (after pre-skip), closes the stream and waits for the relay to
// store the message.
func (u *LiveUpload) Finish(ctx context.Context, samples int64) (*pb.UploadResult, error) {
	defer u.Abort()
	if !u.last {
		return nil, ErrNotLast
	}
	u.rec = proto.AppendEndRecord(u.rec[:0], uint64(samples))
	if _, err := u.str.Write(u.rec); err != nil {
		return nil, fmt.Errorf("live upload %s: write end record: %w", u.id, err)
	}
	if err := u.str.Close(); err != nil {
		return nil, fmt.Errorf("live upload %s: close stream: %w", u.id, err)
	}
	res, err := u.readResult(ctx)
	if err != nil {
		return nil, fmt.Errorf("live upload %s to %s: %w", u.id, u.to, err)
	}
	u.stored = true
	return res, nil
}

// readResult waits for the relay's UploadResult, at most RequestTimeout.
func (u *LiveUpload) readResult(ctx context.Context) (*pb.UploadResult, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, u.s.conn.opts.RequestTimeout, ErrTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { u.str.CancelRead(0) })
	defer stop()
	var resp pb.Response
	if err := readResponse(u.r, &resp); err != nil {
		return nil, u.s.conn.ctxErr(ctx, err)
	}
	res := resp.GetUpload()
	if res == nil || res.GetMessageId() != u.id {
		return nil, fmt.Errorf("%w: no upload result for this message", ErrBadResponse)
	}
	return res, nil
}

// Abort stops the upload and releases its handle. After Finish it only
// cleans up; before, it resets the stream so the relay stores nothing.
// It is safe to call more than once.
func (u *LiveUpload) Abort() {
	u.once.Do(func() {
		u.stop()
		u.cancel()
		u.wg.Wait()
		if !u.stored {
			u.str.CancelWrite(0)
		}
		u.str.CancelRead(0)
		u.s.releaseHandle(u.handle)
	})
}

// Follow is a message read frame by frame with FollowMessage.
type Follow struct {
	Header *pb.FollowHeader

	str    *quic.Stream
	r      *bufio.Reader
	stop   func() bool
	cancel context.CancelFunc
	done   bool
}

// Follow reads message msgID of conversation conv from frame fromSeq: a
// transmission in progress up to its live edge and on until it ends, or a
// stored message. ctx bounds the whole read, which for a live message
// lasts as long as the transmission; Close releases the stream early.
func (c *Conn) Follow(ctx context.Context, conv, msgID string, fromSeq uint32) (*Follow, error) {
	ctx, cancel := context.WithCancel(ctx)
	f, err := c.openFollow(ctx, conv, msgID, fromSeq)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("follow message %s: %w", msgID, err)
	}
	f.cancel = cancel
	return f, nil
}

func (c *Conn) openFollow(ctx context.Context, conv, msgID string, fromSeq uint32) (*Follow, error) {
	str, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, c.ctxErr(ctx, fmt.Errorf("open stream: %w", err))
	}
	stop := context.AfterFunc(ctx, func() {
		str.CancelRead(0)
		str.CancelWrite(0)
	})
	req := &pb.Request{Body: &pb.Request_FollowMessage{FollowMessage: &pb.FollowMessage{
		MessageId: msgID, Conversation: conv, FromSeq: fromSeq,
	}}}
	f := &Follow{str: str, r: bufio.NewReader(str), stop: stop}
	if err := writeRequest(str, req, nil); err != nil {
		f.release()
		return nil, c.ctxErr(ctx, err)
	}
	var resp pb.Response
	if err := readResponse(f.r, &resp); err != nil {
		f.release()
		return nil, c.ctxErr(ctx, err)
	}
	if f.Header = resp.GetFollow(); f.Header == nil || f.Header.GetInfo().GetMessageId() != msgID {
		f.release()
		return nil, fmt.Errorf("%w: no follow header for this message", ErrBadResponse)
	}
	return f, nil
}

// Next returns the next record: a frame, then the end record with the
// message length in samples, then io.EOF.
func (f *Follow) Next() (proto.Record, error) {
	if f.done {
		return proto.Record{}, io.EOF
	}
	rec, err := proto.ReadRecord(f.r)
	if err != nil {
		return proto.Record{}, fmt.Errorf("follow message %s: %w", f.Header.GetInfo().GetMessageId(), err)
	}
	if rec.Kind == proto.RecordEnd {
		f.done = true
	}
	return rec, nil
}

// Close releases the stream. It is safe to call more than once.
func (f *Follow) Close() error {
	f.release()
	if f.cancel != nil {
		f.cancel()
	}
	return nil
}

func (f *Follow) release() {
	f.stop()
	f.str.CancelRead(0)
	f.str.CancelWrite(0)
}

// MarkListened records that the caller played message msgID of
// conversation conv. The relay sends the sender a Listened event.
func (c *Conn) MarkListened(ctx context.Context, conv, msgID string) error {
	req := &pb.Request{Body: &pb.Request_MarkListened{MarkListened: &pb.MarkListened{
		MessageId: msgID, Conversation: conv,
	}}}
	if _, err := c.request(ctx, req); err != nil {
		return fmt.Errorf("mark message %s listened: %w", msgID, err)
	}
	return nil
}
