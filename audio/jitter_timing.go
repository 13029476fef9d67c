package audio

import (
	"slices"
	"time"
)

// Constants of the arrival model.
const (
	// arrivalWindow is how many recent packets the arrival model keeps:
	// 2 s of 20 ms frames. Its minimum offset follows a slow drift between
	// the sender's and the receiver's clocks.
	arrivalWindow = 100
	// arrivalOutliers is how many of the latest arrivals in the window the
	// expected arrival time ignores, so one scheduling spike does not delay
	// every pull for the next 2 s.
	arrivalOutliers = 1
	// arrivalTrusted is how many arrivals the window needs before the
	// expected arrival time leaves outliers out.
	arrivalTrusted = 20
	// arrivalGuard is added to the expected arrival time to cover the time
	// between a packet's arrival and its Push.
	arrivalGuard = time.Millisecond
)

// arrivalModel predicts when the packet of a slot arrives. It keeps the
// offset of each recent arrival from the sender's frame clock: arrival time
// minus the frame's place in the spurt, seq * FrameDuration. The smallest
// offset in the window is the delay of a packet that met no jitter, and the
// spread above it is the jitter.
type arrivalModel struct {
	refTime time.Time // refTime is the arrival of the packet that started the model.
	refSeq  uint32

	offsets [arrivalWindow]time.Duration // offsets is a ring of the latest arrival offsets.
	count   int
	pos     int
	scratch []time.Duration
}

func (m *arrivalModel) reset(seq uint32, now time.Time) {
	m.refTime, m.refSeq = now, seq
	m.count, m.pos = 0, 0
}

// slotTime returns when slot seq starts on the sender's frame clock, in the
// receiver's time and before any network delay.
func (m *arrivalModel) slotTime(seq uint32) time.Time {
	return m.refTime.Add(time.Duration(int32(seq-m.refSeq)) * FrameDuration)
}

// add records that the packet of seq arrived at now.
func (m *arrivalModel) add(seq uint32, now time.Time) {
	m.offsets[m.pos] = now.Sub(m.slotTime(seq))
	m.pos = (m.pos + 1) % arrivalWindow
	m.count = min(m.count+1, arrivalWindow)
}

// expected returns the time by which the packet of seq has arrived unless
// it is later than all but arrivalOutliers of the packets in the window. It
// reports false before the first arrival.
func (m *arrivalModel) expected(seq uint32) (time.Time, bool) {
	_, late, ok := m.offsetRange()
	if !ok {
		return time.Time{}, false
	}
	return m.slotTime(seq).Add(late + arrivalGuard), true
}

// spread returns how much later than the earliest arrival in the window the
// expected arrival lies, or 0 before there are enough arrivals.
func (m *arrivalModel) spread() time.Duration {
	earliest, late, ok := m.offsetRange()
	if !ok {
		return 0
	}
	return late - earliest
}

// offsetRange returns the smallest offset in the window and the largest
// once the arrivalOutliers largest are left out.
// With fewer than arrivalTrusted arrivals it leaves none out.
func (m *arrivalModel) offsetRange() (earliest, late time.Duration, ok bool) {
	if m.count == 0 {
		return 0, 0, false
	}
	m.scratch = append(m.scratch[:0], m.offsets[:m.count]...)
	slices.Sort(m.scratch)
	outliers := 0
	if m.count >= arrivalTrusted {
		outliers = arrivalOutliers
	}
	return m.scratch[0], m.scratch[m.count-1-outliers], true
}

// Due returns the time by which the packet of the next slot is expected to
// have arrived. It reports false when there is nothing to wait for: the
// packet or the one after it, whose FEC data rebuilds it, is already
// buffered, or the spurt is not playing, or too few packets arrived to
// predict. A playout loop whose output device has audio queued can delay
// its pull until this time, so a packet that is about to arrive plays in
// this slot rather than the next, which saves up to a frame of delay.
//
// While the buffer waits to drop a frame (see adaptDepth), Due returns when
// the packet after the next one is expected instead, so the delayed pull
// finds both and can drop the first.
func (j *JitterBuffer) Due() (time.Time, bool) {
	if j.state != statePlaying {
		return time.Time{}, false
	}
	seq := j.next
	if j.shrinkWait > 0 && j.has(seq) {
		seq++
	}
	if j.has(seq) || j.has(seq+1) {
		return time.Time{}, false
	}
	return j.arrivals.expected(seq)
}

// slackWindow collects the slack of the packets played in one shrink
// window: how long each packet waited in the buffer after it arrived. A
// buffer whose packets all waited more than a frame can drop one frame and
// still play them in time.
type slackWindow struct {
	slots    int           // slots counts the slots of the window, played or not.
	smallest time.Duration // smallest is the least slack in the window.
	second   time.Duration // second is the second least slack in the window.
	samples  int
}

func (w *slackWindow) reset() {
	*w = slackWindow{}
}

// add records the slack of one played packet.
func (w *slackWindow) add(slack time.Duration) {
	switch {
	case w.samples == 0 || slack < w.smallest:
		w.second, w.smallest = w.smallest, slack
	case w.samples == 1 || slack < w.second:
		w.second = slack
	}
	w.samples++
}

// allows reports whether every packet of the window but the one that
// waited least waited at least need, so dropping need worth of delay would
// make at most one of them late. A window with fewer than half its slots
// played from their own packet allows nothing, since its slack is unknown.
func (w *slackWindow) allows(need time.Duration) bool {
	if w.samples < max(2, w.slots/2) {
		return false
	}
	return w.second >= need
}
