package relay

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vm-voice/vm/proto"
)

// listenerQueueLen bounds the datagrams waiting for one subscribed
// connection's writer. The forwarding path drops a datagram rather than
// wait when the queue is full, so a slow listener loses its own audio
// and delays no other listener. 64 frames are 1.28 s of one talker's speech.
const listenerQueueLen = 64

// outFrame is one voice frame on its way to several listeners. The
// forwarding path writes it once. Each listener's writer copies it,
// rewrites the stream handle in its copy and drops its reference; the
// last reference returns the frame to framePool.
type outFrame struct {
	refs atomic.Int32
	// intake is when the relay took the frame in, for latency tests.
	intake time.Time
	n      int
	b      [proto.MaxDatagramSize]byte
}

var framePool = sync.Pool{New: func() any { return new(outFrame) }}

// newOutFrame encodes f into a pooled outFrame with refs references. It
// returns nil when f does not fit in a datagram.
func newOutFrame(f *proto.Frame, refs int) *outFrame {
	if proto.FrameHeaderSize+len(f.Payload) > proto.MaxDatagramSize {
		return nil
	}
	o := framePool.Get().(*outFrame)
	o.n = len(proto.AppendFrame(o.b[:0], f))
	o.refs.Store(int32(refs))
	o.intake = time.Now()
	return o
}

// release drops one reference to o.
func (o *outFrame) release() {
	if o.refs.Add(-1) == 0 {
		framePool.Put(o)
	}
}

// queuedDatagram is one entry of a listener's queue: a shared frame and
// the stream handle that the listener's TalkStart announced.
type queuedDatagram struct {
	frame  *outFrame
	handle uint16
}

// listener is one subscribed connection that receives a transmission.
type listener struct {
	sub    *subscriber
	handle uint16
}

// fanOut enqueues f for every listener without blocking and counts the
// datagrams it drops.
func (s *Server) fanOut(ls []listener, f *proto.Frame) {
	if len(ls) == 0 {
		return
	}
	o := newOutFrame(f, len(ls)+1)
	if o == nil {
		s.metrics.fanoutTooLarge.Add(float64(len(ls)))
		return
	}
	for _, l := range ls {
		select {
		case l.sub.datagrams <- queuedDatagram{frame: o, handle: l.handle}:
		default:
			o.release()
			s.metrics.fanoutQueueFull.Inc()
		}
	}
	o.release()
}

// writeDatagrams sends the subscriber's queued datagrams until ctx is
// done. The send blocks while the connection's own datagram queue is full,
// which holds up only this subscriber's queue.
func (sub *subscriber) writeDatagrams(ctx context.Context) {
	var buf [proto.MaxDatagramSize]byte
	m := sub.ss.s.metrics
	for {
		select {
		case <-ctx.Done():
			sub.dropQueued()
			return
		case q := <-sub.datagrams:
			n := copy(buf[:], q.frame.b[:q.frame.n])
			intake := q.frame.intake
			q.frame.release()
			binary.BigEndian.PutUint16(buf[2:], q.handle)
			if err := sub.send(buf[:n]); err != nil {
				m.fanoutSendError.Inc()
				continue
			}
			m.datagramsSent.Inc()
			if hook := sub.ss.s.sentHookForTest; hook != nil {
				hook(time.Since(intake))
			}
		}
	}
}

// dropQueued releases the frames still queued for a subscriber that
// stopped.
func (sub *subscriber) dropQueued() {
	for {
		select {
		case q := <-sub.datagrams:
			q.frame.release()
		default:
			return
		}
	}
}
