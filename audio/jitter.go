package audio

import (
	"math"
	"time"

	"github.com/vm-voice/vm/proto"
)

// FrameDuration is the length of one Opus frame of FrameSamples samples.
const FrameDuration = 20 * time.Millisecond

// jitterRing is the number of frames a JitterBuffer stores: 1.28 s, well
// beyond the maximum depth, so reordered packets always find their slot.
const jitterRing = 64

// Defaults for zero fields of JitterOptions.
const (
	DefaultMinDepth     = 1
	DefaultMaxDepth     = 10
	DefaultInitialDepth = 2
	DefaultEndTimeout   = time.Second
)

// Constants of the depth adaptation.
const (
	// jitterGain is the weight of a new inter-arrival jitter sample, 1/16 as
	// in RFC 3550 section 6.4.1.
	jitterGain = 1.0 / 16
	// jitterSpread converts the RFC 3550 estimate, a mean deviation, to the
	// spread of arrival delays: for delays uniform in [0, a] it is a/3.
	jitterSpread = 3
	// lossGain is the weight of one played slot in the loss rate estimate.
	lossGain = 1.0 / 32
	// lossMargin is the loss rate above which the target depth gets one more
	// frame, so the packet after a lost one is there for its FEC data.
	lossMargin = 0.01
	// shrinkWindow is how many slots the buffer watches before it decides
	// whether to drop one frame of delay: 1 s of 20 ms frames.
	shrinkWindow = 50
	// shrinkMargin is the slack beyond one frame that every packet of a
	// window but one must have had before the buffer drops a frame.
	shrinkMargin = 2 * time.Millisecond
	// shrinkPatience is how many slots the buffer waits for a quiet frame
	// to drop before it drops any frame.
	shrinkPatience = 100
	// growWindow is how many slots after a late packet another late packet
	// grows the delay by a frame. A late packet with none before it in that
	// time is concealed as lost instead.
	growWindow = 250
	// payloadGain is the weight of a new packet in the average packet size.
	payloadGain = 1.0 / 16
)

// PlayoutKind is the action a JitterBuffer selects for one slot.
type PlayoutKind int

// Playout kinds, one per 20 ms slot.
const (
	// PlayoutWait means nothing is due yet: play silence.
	PlayoutWait PlayoutKind = iota
	// PlayoutPacket means decode Payload, the packet for this slot.
	PlayoutPacket
	// PlayoutFEC means the packet for this slot is missing and Payload is
	// the next packet: decode the in-band FEC data it carries.
	PlayoutFEC
	// PlayoutPLC means the packet for this slot is missing: conceal it.
	PlayoutPLC
	// PlayoutEnd means the talk spurt is over.
	PlayoutEnd
)

var playoutNames = [...]string{"wait", "packet", "fec", "plc", "end"}

// String returns the lowercase name of k.
func (k PlayoutKind) String() string {
	if k < 0 || int(k) >= len(playoutNames) {
		return "unknown"
	}
	return playoutNames[k]
}

// Playout is the decision for one 20 ms slot.
type Playout struct {
	Kind PlayoutKind
	Seq  uint32 // Seq is the sequence number of the slot, unset for Wait and End.

	// Payload is the Opus packet for PlayoutPacket and PlayoutFEC. It aliases
	// the buffer's storage and is valid until the next Push or Next.
	Payload []byte
}

// JitterOptions configures a JitterBuffer. Zero fields take the defaults.
type JitterOptions struct {
	MinDepth     int           // MinDepth is the smallest target depth in frames.
	MaxDepth     int           // MaxDepth is the largest depth in frames.
	InitialDepth int           // InitialDepth is the target before any jitter is measured.
	EndTimeout   time.Duration // EndTimeout ends a spurt when no packet arrives for this long.

	// PullDelay is how long after a slot starts the caller may delay Next
	// while Due reports a packet about to arrive. The buffer counts it as
	// slack when it decides whether to drop a frame. Zero means the caller
	// calls Next at the start of each slot.
	PullDelay time.Duration
}

func (o JitterOptions) withDefaults() JitterOptions {
	if o.MinDepth <= 0 {
		o.MinDepth = DefaultMinDepth
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	o.MaxDepth = min(max(o.MaxDepth, o.MinDepth), jitterRing/2)
	if o.InitialDepth <= 0 {
		o.InitialDepth = DefaultInitialDepth
	}
	o.InitialDepth = min(max(o.InitialDepth, o.MinDepth), o.MaxDepth)
	if o.EndTimeout <= 0 {
		o.EndTimeout = DefaultEndTimeout
	}
	o.PullDelay = min(max(o.PullDelay, 0), FrameDuration-shrinkMargin)
	return o
}

// JitterStats counts what a JitterBuffer did with its packets and slots.
type JitterStats struct {
	Played       uint64 // Played counts slots played from their own packet.
	FECRecovered uint64 // FECRecovered counts missing packets rebuilt from the next packet's FEC data.
	Concealed    uint64 // Concealed counts missing packets concealed by PLC.
	Inserted     uint64 // Inserted counts PLC slots added while waiting for a late packet, which grow the delay.
	Late         uint64 // Late counts packets that arrived after their slot was played or skipped.
	Duplicates   uint64 // Duplicates counts packets received twice.
	Dropped      uint64 // Dropped counts received packets discarded to shrink the delay.
	Skipped      uint64 // Skipped counts missing slots jumped over after a long gap.

	TargetDepth int           // TargetDepth is the current target in frames.
	Depth       int           // Depth is the number of frames from the next slot to the newest packet.
	Jitter      time.Duration // Jitter is the RFC 3550 inter-arrival jitter estimate.
	Spread      time.Duration // Spread is how late the packets of the last 2 s arrived, beyond the earliest, ignoring the latest one.
	LossRate    float64       // LossRate is the smoothed fraction of slots whose packet was missing.
}

type jitterState int

const (
	stateIdle jitterState = iota
	stateBuffering
	statePlaying
	stateEnded
)

type jitterSlot struct {
	used    bool
	seq     uint32
	arrival time.Time
	payload []byte
}

// JitterBuffer orders the voice frames of one talk spurt by sequence number
// and decides, once per 20 ms slot, what to play. It starts playing at a
// depth that follows the measured inter-arrival jitter and loss, between
// MinDepth and MaxDepth frames. Then its delay grows by one concealed frame
// when a packet is late for its slot within 5 s of another late packet, or
// under loss. An isolated late packet is concealed as lost instead. The
// delay shrinks by one dropped frame, a quiet one where it can, after a
// second in which every packet but one waited more than a frame (two
// frames under loss, so FEC data is on time). Due returns when the next
// packet is expected, so a playout loop can pull just after it arrives. Time comes only from the now arguments, so
// tests can drive it with any clock. A JitterBuffer is not safe for
// concurrent use.
type JitterBuffer struct {
	opt   JitterOptions
	slots [jitterRing]jitterSlot
	state jitterState

	next    uint32 // next is the sequence number of the next slot to play.
	highest uint32 // highest is the newest sequence number of the spurt.
	last    uint32 // last is the sequence number of the frame with FlagLast.
	hasLast bool
	// start is the first sequence number of the next spurt, when StartAt
	// set it.
	start    uint32
	hasStart bool

	spurtStart  time.Time // spurtStart is the arrival of the spurt's first packet.
	lastArrival time.Time
	stalls      int // stalls counts the slots of a gap with no newer packet.
	sinceStall  int // sinceStall counts the slots since the last gap began.

	// Inter-arrival jitter per RFC 3550 section 6.4.1, in seconds.
	jitter      float64
	hasJitter   bool
	prevArrival time.Time
	prevTS      uint32
	hasPrev     bool

	arrivals arrivalModel

	loss       float64
	avgPayload float64 // avgPayload is the smoothed packet size in bytes.
	window     slackWindow
	shrinkWait int // shrinkWait counts the slots since a window allowed a drop, 0 when none did.

	stats JitterStats
}

// NewJitterBuffer returns an empty buffer.
func NewJitterBuffer(opt JitterOptions) *JitterBuffer {
	return &JitterBuffer{opt: opt.withDefaults()}
}

// seqAfter reports whether a is newer than b in sequence number space,
// which wraps at 2^32.
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// Push stores a frame that arrived at now. It copies the payload, so f may
// be reused after the call.
func (j *JitterBuffer) Push(f *proto.Frame, now time.Time) {
	first := f.Flags&proto.FlagFirst != 0
	switch {
	case j.state == stateIdle:
		j.startSpurt(f.Seq, now)
	case j.state == stateEnded && (first || !seqAfter(j.next, f.Seq)):
		j.startSpurt(f.Seq, now)
	case j.state == stateEnded:
		j.stats.Late++
		return
	}
	j.measureJitter(f.Timestamp, now)
	j.lastArrival = now
	if j.store(f, now) {
		j.arrivals.add(f.Seq, now)
	}
}

func (j *JitterBuffer) startSpurt(seq uint32, now time.Time) {
	for i := range j.slots {
		j.slots[i].used = false
	}
	j.state = stateBuffering
	j.next, j.highest = seq, seq
	j.hasLast, j.hasPrev = false, false
	j.spurtStart = now
	j.stalls = 0
	j.sinceStall = growWindow + 1
	j.arrivals.reset(seq, now)
	j.resetWindow()
	j.shrinkWait = 0
	if j.hasStart {
		j.hasStart = false
		if !seqAfter(j.start, seq) && int(seq-j.start) <= j.opt.MaxDepth {
			j.next = j.start // the frames before seq were lost: conceal them
		}
	}
}

// StartAt sets seq as the first sequence number of the next spurt.
// Without it a spurt begins at the first packet that arrives, so frames
// lost before that one are never played. With it, up to MaxDepth lost leading frames
// are concealed or recovered from FEC like any other gap.
func (j *JitterBuffer) StartAt(seq uint32) {
	j.start, j.hasStart = seq, true
}

// store puts f, which arrived at now, in its slot and reports whether it
// did, or counts it as late or duplicate.
func (j *JitterBuffer) store(f *proto.Frame, now time.Time) bool {
	if seqAfter(j.next, f.Seq) {
		if j.state != stateBuffering || int(j.highest-f.Seq) >= jitterRing {
			j.stats.Late++
			return false
		}
		j.next = f.Seq // an earlier packet of a spurt that has not started playing
	}
	if int(f.Seq-j.next) >= jitterRing {
		j.resync(f.Seq)
	}
	s := &j.slots[f.Seq%jitterRing]
	if s.used && s.seq == f.Seq {
		j.stats.Duplicates++
		return false
	}
	s.used, s.seq, s.arrival = true, f.Seq, now
	j.avgPayload += (float64(len(f.Payload)) - j.avgPayload) * payloadGain
	s.payload = append(s.payload[:0], f.Payload...)
	if seqAfter(f.Seq, j.highest) {
		j.highest = f.Seq
	}
	if f.Flags&proto.FlagLast != 0 {
		j.last, j.hasLast = f.Seq, true
	}
	return true
}

// resync moves the next slot forward so that seq is target frames away
// from it, dropping what lies before. It handles gaps longer than the ring.
func (j *JitterBuffer) resync(seq uint32) {
	next := seq - uint32(j.target()) + 1
	for seqAfter(next, j.next) {
		j.discard(j.next)
		j.next++
	}
}

// discard removes the slot of seq, counting it as dropped or skipped.
func (j *JitterBuffer) discard(seq uint32) {
	s := &j.slots[seq%jitterRing]
	if s.used && s.seq == seq {
		s.used = false
		j.stats.Dropped++
		return
	}
	j.stats.Skipped++
}

// measureJitter updates the RFC 3550 estimate with a packet's 48 kHz
// timestamp and arrival time.
func (j *JitterBuffer) measureJitter(ts uint32, now time.Time) {
	if j.hasPrev {
		sent := float64(int32(ts-j.prevTS)) / SampleRate
		d := math.Abs(now.Sub(j.prevArrival).Seconds() - sent)
		j.jitter += (d - j.jitter) * jitterGain
		j.hasJitter = true
	}
	j.prevArrival, j.prevTS, j.hasPrev = now, ts, true
}

// target returns the depth in frames the buffer aims for.
func (j *JitterBuffer) target() int {
	if !j.hasJitter {
		return j.opt.InitialDepth
	}
	spread := jitterSpread * j.jitter / FrameDuration.Seconds()
	t := 1 + int(math.Round(spread))
	if j.loss > lossMargin {
		t++
	}
	return min(max(t, j.opt.MinDepth), j.opt.MaxDepth)
}

// depth returns the frames from the next slot to the newest packet.
func (j *JitterBuffer) depth() int {
	if seqAfter(j.next, j.highest) {
		return 0
	}
	return int(j.highest-j.next) + 1
}

func (j *JitterBuffer) has(seq uint32) bool {
	s := &j.slots[seq%jitterRing]
	return s.used && s.seq == seq
}

// Stats returns the counters and the current depth estimates.
func (j *JitterBuffer) Stats() JitterStats {
	st := j.stats
	st.TargetDepth = j.target()
	st.Depth = j.depth()
	st.Jitter = time.Duration(j.jitter * float64(time.Second))
	st.Spread = j.arrivals.spread()
	st.LossRate = j.loss
	return st
}

// EndAt sets the talk spurt's length to frames, from the sender's end
// notice, so the spurt ends on time even when the frame marked last was
// lost. A spurt that has not started is left alone.
func (j *JitterBuffer) EndAt(frames uint32) {
	if frames == 0 || j.state == stateIdle || j.state == stateEnded {
		return
	}
	j.last, j.hasLast = frames-1, true
}
