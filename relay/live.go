package relay

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vm-voice/vm/audio/oggopus"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// maxLiveUploads bounds the live uploads one connection runs at once.
const maxLiveUploads = 4

// transmission is a live upload in progress. Its frames arrive twice, as
// upload records and as datagrams. The first copy of each is forwarded to
// the listeners, and the records are kept for FollowMessage.
type transmission struct {
	id, conv, sender string
	// session is the sender's connection.
	session    *session
	started    time.Time
	preSkip    uint32
	liveHandle uint16
	maxFrames  int

	// listeners is replaced, never changed in place, under the hub's
	// mutex; the forwarding path reads it without a lock.
	listeners atomic.Pointer[[]listener]
	// members contains the handles of the conversation's members; the
	// hub's mutex guards it.
	members map[string]bool

	// mu guards the fields below.
	mu sync.Mutex
	// forwarded has bit seq set once frame seq was forwarded.
	forwarded []uint64
	// next is one past the highest sequence number received on either
	// path.
	next uint32
	// frames contains the frames of the upload records so far, in order.
	frames []proto.Frame
	// done is set once the upload ended; stored and samples describe how.
	done    bool
	stored  bool
	samples uint64
	// wake is closed and replaced whenever frames grows or the upload
	// ends.
	wake chan struct{}
}

func newTransmission(ss *session, me, conv string, h uploadHeader, members []string) *transmission {
	maxFrames := int(ss.s.cfg.MaxMessageDuration / proto.FrameDuration)
	t := &transmission{
		id:         h.id,
		conv:       conv,
		sender:     me,
		session:    ss,
		started:    ss.s.now(),
		preSkip:    uint32(h.preSkip),
		liveHandle: h.liveHandle,
		maxFrames:  maxFrames,
		members:    map[string]bool{},
		forwarded:  make([]uint64, (maxFrames+63)/64),
		wake:       make(chan struct{}),
	}
	for _, m := range members {
		t.members[m] = true
	}
	t.listeners.Store(&[]listener{})
	return t
}

// memberList returns the members in sorted order; the caller holds the
// hub's mutex.
func (t *transmission) memberList() []string {
	return slices.Sorted(maps.Keys(t.members))
}

// received returns one past the highest sequence number received so far.
func (t *transmission) received() uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next
}

// info returns the metadata known before the message is stored.
func (t *transmission) info() *pb.MessageInfo {
	return &pb.MessageInfo{
		MessageId:     t.id,
		Conversation:  t.conv,
		Sender:        t.sender,
		CreatedUnixMs: t.started.UnixMilli(),
	}
}

// claim marks frame seq as forwarded and reports whether it was not
// before.
func (t *transmission) claim(seq uint32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || int(seq) >= t.maxFrames {
		return false
	}
	word, bit := seq/64, uint64(1)<<(seq%64)
	if t.forwarded[word]&bit != 0 {
		return false
	}
	t.forwarded[word] |= bit
	t.next = max(t.next, seq+1)
	return true
}

// addRecord keeps f, a checked frame of the upload stream, for followers
// and forwards it unless its datagram came first.
func (t *transmission) addRecord(s *Server, f *proto.Frame) {
	first := t.claim(f.Seq)
	t.mu.Lock()
	t.frames = append(t.frames, *f)
	t.wakeLocked()
	t.mu.Unlock()
	if first {
		s.fanOut(*t.listeners.Load(), f)
	}
}

func (t *transmission) wakeLocked() {
	close(t.wake)
	t.wake = make(chan struct{})
}

// setSamples records the message length from the upload's end record.
func (t *transmission) setSamples(samples uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.samples = samples
}

// finish marks the upload as ended and wakes its followers.
func (t *transmission) finish(stored bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done, t.stored = true, stored
	t.wakeLocked()
}

// followState is a follower's view of a transmission: the frames from
// its position on, whether the upload ended, and a channel closed when
// there is more.
type followState struct {
	frames  []proto.Frame
	done    bool
	stored  bool
	samples uint64
	wake    <-chan struct{}
}

// since returns the frames from sequence number from on. The slice
// shares the transmission's array, whose elements never change.
func (t *transmission) since(from int) followState {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := followState{done: t.done, stored: t.stored, samples: t.samples, wake: t.wake}
	if from < len(t.frames) {
		st.frames = t.frames[from:len(t.frames):len(t.frames)]
	}
	return st
}

// startLive announces a live upload to the online members of its
// conversation and makes its live handle take datagrams on this
// connection. It returns nil for an upload that is not live.
func (ss *session) startLive(ctx context.Context, me, conv string, h uploadHeader) (*transmission, error) {
	if !h.live {
		return nil, nil
	}
	members, err := ss.s.members(ctx, conv)
	if err != nil {
		return nil, unavailable("list conversation members", err)
	}
	t := newTransmission(ss, me, conv, h, members)
	if err := ss.addLive(t); err != nil {
		return nil, err
	}
	if !ss.s.hub.startTalk(t) {
		ss.removeLive(t)
		return nil, errorf(pb.ErrorCode_ERROR_CODE_CONFLICT, "message %s is being uploaded already: wait for that upload to end", h.id)
	}
	ss.logger().Info("talk started", "conv", conv, "msg_id", h.id)
	return t, nil
}

// addLive registers t's live handle on this connection.
func (ss *session) addLive(t *transmission) error {
	ss.liveMu.Lock()
	defer ss.liveMu.Unlock()
	if _, ok := ss.live[t.liveHandle]; ok {
		return errorf(pb.ErrorCode_ERROR_CODE_CONFLICT, "live handle %d is in use on this connection: pick another", t.liveHandle)
	}
	if len(ss.live) >= maxLiveUploads {
		return errorf(pb.ErrorCode_ERROR_CODE_RATE_LIMITED, "too many live uploads: at most %d run at once per connection", maxLiveUploads)
	}
	ss.live[t.liveHandle] = t
	return nil
}

func (ss *session) removeLive(t *transmission) {
	ss.liveMu.Lock()
	defer ss.liveMu.Unlock()
	if ss.live[t.liveHandle] == t {
		delete(ss.live, t.liveHandle)
	}
}

// finishLive ends a live upload: stored is the stored message, or nil
// when the upload failed. Listeners get TalkEnd, then the members get
// MessageStored.
func (ss *session) finishLive(t *transmission, stored *pb.MessageInfo) {
	ss.removeLive(t)
	frames := uint64(0)
	if stored != nil {
		frames = stored.Frames
	}
	t.finish(stored != nil)
	ss.s.hub.endTalk(t, stored, frames)
	ss.logger().Info("talk ended", "conv", t.conv, "msg_id", t.id, "stored", stored != nil)
}

// readDatagrams takes the connection's datagrams until ctx is done or
// the connection ends.
func (ss *session) readDatagrams(ctx context.Context) {
	for {
		b, err := ss.conn.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		ss.s.metrics.datagramsIn.Inc()
		ss.takeDatagram(b)
	}
}

// takeDatagram checks a datagram from the client and forwards its frame
// when it is the first copy of a frame of one of the connection's live
// uploads. It drops and counts anything else.
func (ss *session) takeDatagram(b []byte) {
	m := ss.s.metrics
	if len(b) > proto.MaxDatagramSize {
		m.datagramsTooLarge.Inc()
		return
	}
	f, err := proto.ParseFrame(b)
	if err != nil {
		m.datagramsMalformed.Inc()
		return
	}
	t := ss.liveUpload(f.Handle)
	if t == nil {
		m.datagramsUnknown.Inc()
		return
	}
	if err := checkLiveFrame(&f); err != nil || int(f.Seq) >= t.maxFrames {
		m.datagramsInvalid.Inc()
		return
	}
	if !t.claim(f.Seq) {
		m.datagramsDuplicate.Inc()
		return
	}
	ss.s.fanOut(*t.listeners.Load(), &f)
}

func (ss *session) liveUpload(handle uint16) *transmission {
	ss.liveMu.Lock()
	defer ss.liveMu.Unlock()
	return ss.live[handle]
}

// errLiveFrame is the cause of every rejected live datagram; the relay
// only counts them.
var errLiveFrame = errors.New("invalid live frame")

// checkLiveFrame applies the rules of upload records to a datagram's
// frame: plaintext, timestamp seq*960, the first-frame flag on frame 0
// only, and one 20 ms Opus packet.
func checkLiveFrame(f *proto.Frame) error {
	switch {
	case f.Flags&proto.FlagEncrypted != 0:
		return errLiveFrame
	case f.Timestamp != f.Seq*proto.FrameSamples:
		return errLiveFrame
	case (f.Flags&proto.FlagFirst != 0) != (f.Seq == 0):
		return errLiveFrame
	}
	n, err := oggopus.PacketSamples(f.Payload)
	if err != nil || n != proto.FrameSamples {
		return errLiveFrame
	}
	return nil
}
