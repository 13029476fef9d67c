package relay

import (
	"context"
	"io"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
	"golang.org/x/sync/errgroup"
)

// Event feed limits.
const (
	// eventQueueLen bounds the events waiting for one subscribed
	// connection. A client that falls this far behind loses its feed and
	// has to subscribe again.
	//
	// NOTE: the presence snapshot is queued at once, so a user who shares
	// conversations with more than about this many others loses the feed
	// at subscribe time.
	eventQueueLen = 1024
	// eventWriteTimeout bounds writing one event to a client that does
	// not read its feed.
	eventWriteTimeout = 10 * time.Second
	// maxFeedInput bounds the bytes the relay reads and discards from a
	// client on its feed stream, where nothing is expected.
	maxFeedInput = 1 << 20
)

// subscriber is the event feed and live datagram sink of one connection
// that sent Subscribe.
type subscriber struct {
	ss     *session
	handle string
	// cancel ends the feed; the hub calls it when the event queue
	// overflows.
	cancel    context.CancelFunc
	events    chan *pb.Event
	datagrams chan queuedDatagram
	// send sends one datagram; tests replace it to stall a listener.
	send func([]byte) error

	// The hub's mutex guards the fields below.

	// presence contains the presence of each user this feed has reported.
	presence map[string]bool
	// streams maps the message id of each transmission this connection
	// receives to the stream handle its datagrams carry.
	streams map[string]uint16
	// inUse contains the stream handles in streams.
	inUse map[uint16]bool
	// nextHandle is the first stream handle the search for a free one
	// tries.
	nextHandle uint16
}

func newSubscriber(ss *session, handle string) *subscriber {
	return &subscriber{
		ss:         ss,
		handle:     handle,
		events:     make(chan *pb.Event, eventQueueLen),
		datagrams:  make(chan queuedDatagram, listenerQueueLen),
		send:       ss.conn.SendDatagram,
		presence:   map[string]bool{},
		streams:    map[string]uint16{},
		inUse:      map[uint16]bool{},
		nextHandle: 1,
	}
}

// handleSubscribe turns str into the connection's event feed. It replies
// with an empty response, then writes the snapshot and the changes the
// hub queues. The feed ends with the connection, at relay shutdown, when
// the client cancels the stream, or when the feed falls behind.
func (ss *session) handleSubscribe(ctx context.Context, str *quic.Stream) {
	me, err := ss.registered()
	if err != nil {
		ss.reply(str, nil, err)
		return
	}
	peers, err := ss.peers(ctx, me)
	if err != nil {
		ss.reply(str, nil, err)
		return
	}
	sub := newSubscriber(ss, me)
	if !ss.setSubscriber(sub) {
		ss.reply(str, nil, errorf(pb.ErrorCode_ERROR_CODE_CONFLICT, "this connection has subscribed already: use the open event stream"))
		return
	}
	str.SetReadDeadline(time.Time{})
	str.SetWriteDeadline(time.Now().Add(requestTimeout))
	if err := proto.WriteMessage(str, &pb.Response{Body: &pb.Response_Empty{Empty: &pb.Empty{}}}); err != nil {
		str.CancelWrite(codeStreamRejected)
		return
	}
	ss.runSubscriber(ctx, str, sub, peers)
}

// peers returns the peers of me, which get the changes of my presence.
func (ss *session) peers(ctx context.Context, me string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	peers, err := ss.s.peers(ctx, me)
	if err != nil {
		return nil, unavailable("list conversation members", err)
	}
	return peers, nil
}

// setSubscriber records sub as the connection's subscription unless it
// has one.
func (ss *session) setSubscriber(sub *subscriber) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.sub != nil {
		return false
	}
	ss.sub = sub
	return true
}

// clearSubscriber lets the connection subscribe again once its feed has
// ended.
func (ss *session) clearSubscriber() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.sub = nil
}

// runSubscriber registers sub with the hub and runs its event and
// datagram writers until the feed ends, then unregisters it.
func (ss *session) runSubscriber(ctx context.Context, str *quic.Stream, sub *subscriber, peers []string) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub.cancel = cancel
	stopSoft := context.AfterFunc(ss.soft, cancel)
	defer stopSoft()
	stopConn := context.AfterFunc(ss.conn.Context(), cancel)
	defer stopConn()
	if hook := ss.s.subscribeHookForTest; hook != nil {
		hook(sub)
	}
	ss.s.hub.subscribe(sub, peers)
	defer ss.clearSubscriber()
	defer ss.s.hub.unsubscribe(sub)
	ss.s.metrics.subscribers.Inc()
	defer ss.s.metrics.subscribers.Dec()
	ss.logger().Debug("subscribed", "peers", len(peers))

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		sub.writeDatagrams(gctx)
		return nil
	})
	g.Go(func() error {
		defer cancel()
		return sub.writeEvents(gctx, str)
	})
	g.Go(func() error {
		defer cancel()
		watchClosed(gctx, str)
		return nil
	})
	g.Wait()
	ss.logger().Debug("unsubscribed")
}

// writeEvents writes queued events to str until ctx is done or a write
// fails.
func (sub *subscriber) writeEvents(ctx context.Context, str *quic.Stream) error {
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			str.Close()
			return nil
		case ev := <-sub.events:
			var err error
			if buf, err = proto.AppendMessage(buf[:0], ev); err != nil {
				return err
			}
			str.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
			if _, err := str.Write(buf); err != nil {
				sub.ss.logger().Debug("write event", "err", err)
				str.CancelWrite(codeStreamRejected)
				return err
			}
		}
	}
}

// watchClosed returns when the client cancels its side of the feed
// stream or when ctx is done. A client that closes its side after the
// request, as on any other request stream, keeps the feed.
func watchClosed(ctx context.Context, str *quic.Stream) {
	stop := context.AfterFunc(ctx, func() { str.CancelRead(codeOK) })
	defer stop()
	if _, err := io.Copy(io.Discard, io.LimitReader(str, maxFeedInput)); err == nil {
		<-ctx.Done()
	}
}

// queueEvent adds ev to the feed without blocking. A full queue ends the
// feed.
func (sub *subscriber) queueEvent(ev *pb.Event) {
	select {
	case sub.events <- ev:
	default:
		sub.ss.s.metrics.feedsLagged.Inc()
		sub.ss.logger().Warn("event feed ended: client reads events too slowly")
		sub.cancel()
	}
}
