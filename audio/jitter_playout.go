package audio

import "time"

// Next decides what to play in the 20 ms slot that starts at now. Call it
// once per slot, at the pace of the output device.
func (j *JitterBuffer) Next(now time.Time) Playout {
	switch j.state {
	case stateIdle:
		return Playout{Kind: PlayoutWait}
	case stateEnded:
		return Playout{Kind: PlayoutEnd}
	case stateBuffering:
		if j.timedOut(now) {
			return j.end()
		}
		if !j.ready(now) {
			return Playout{Kind: PlayoutWait}
		}
		j.state = statePlaying
	}
	return j.play(now)
}

// ready reports whether a buffering spurt has enough frames to start, or has
// waited as long as that many frames take to arrive.
func (j *JitterBuffer) ready(now time.Time) bool {
	target := j.target()
	if j.hasLast || now.Sub(j.spurtStart) >= time.Duration(target)*FrameDuration {
		return true
	}
	n := 0
	for n < target && j.has(j.next+uint32(n)) {
		n++
	}
	return n >= target
}

func (j *JitterBuffer) timedOut(now time.Time) bool {
	return now.Sub(j.lastArrival) >= j.opt.EndTimeout
}

func (j *JitterBuffer) end() Playout {
	j.state = stateEnded
	return Playout{Kind: PlayoutEnd}
}

// play picks the playout of the next slot of a playing spurt.
func (j *JitterBuffer) play(now time.Time) Playout {
	if j.hasLast && seqAfter(j.next, j.last) {
		return j.end()
	}
	j.adaptDepth()
	j.window.slots++
	j.sinceStall++
	seq := j.next
	if !seqAfter(seq, j.highest) {
		j.stalls = 0 // a packet at or after this slot ends any gap
	}
	if j.has(seq) {
		j.window.add(now.Sub(j.slots[seq%jitterRing].arrival))
		j.advance(false)
		j.stats.Played++
		return Playout{Kind: PlayoutPacket, Seq: seq, Payload: j.take(seq)}
	}
	if j.has(seq + 1) {
		j.advance(true)
		j.stats.FECRecovered++
		return Playout{Kind: PlayoutFEC, Seq: seq, Payload: j.slots[(seq+1)%jitterRing].payload}
	}
	if seqAfter(j.highest, seq) {
		j.advance(true)
		j.stats.Concealed++
		return Playout{Kind: PlayoutPLC, Seq: seq}
	}
	return j.stall(now)
}

// stall handles a slot whose packet is missing with nothing newer buffered:
// the packet is late, lost, or the spurt has stopped. The first slot of an
// isolated gap, with no other gap in the last growWindow slots and little
// loss, is concealed as lost, so one late packet costs one concealed frame
// and no delay. Otherwise the first slot of a gap is concealed without
// moving on, which adds one frame of delay, so a packet that is just late
// still plays and the packet after a lost one is there for its FEC data.
// Later slots of the gap are concealed as lost, and after MaxDepth of them
// the buffer plays silence until the end timeout.
func (j *JitterBuffer) stall(now time.Time) Playout {
	if j.timedOut(now) {
		return j.end()
	}
	j.stalls++
	j.shrinkWait = 0 // a late packet shows there is no slack to drop
	seq := j.next
	switch {
	case j.stalls == 1 && j.sinceStall > growWindow && j.loss <= lossMargin:
		j.sinceStall = 0
		j.stalls = 0 // the gap is over: a packet missing from the next slot is a new gap
		j.stats.Concealed++
		j.advance(true)
		return Playout{Kind: PlayoutPLC, Seq: seq}
	case j.stalls == 1:
		j.sinceStall = 0
		j.stats.Inserted++
		return Playout{Kind: PlayoutPLC, Seq: seq}
	case j.stalls > j.opt.MaxDepth+1:
		j.stats.Skipped++
		j.advance(true)
		return Playout{Kind: PlayoutWait}
	}
	j.stats.Concealed++
	j.advance(true)
	return Playout{Kind: PlayoutPLC, Seq: seq}
}

// advance moves to the following slot and feeds the loss estimate.
func (j *JitterBuffer) advance(lost bool) {
	j.next++
	sample := 0.0
	if lost {
		sample = 1
	}
	j.loss += (sample - j.loss) * lossGain
}

// take frees the slot of seq and returns its payload, which stays valid
// until the slot is reused.
func (j *JitterBuffer) take(seq uint32) []byte {
	s := &j.slots[seq%jitterRing]
	s.used = false
	return s.payload
}

// adaptDepth shrinks the delay of a playing spurt. Beyond MaxDepth it jumps
// to the target at once. Otherwise, once a window of shrinkWindow slots
// shows that every packet but one waited long enough (see shrinkNeed), it
// drops one frame: the first quiet one (see quiet), or any frame after
// shrinkPatience slots. It drops only while the frame after the dropped one
// is buffered, so the drop never leaves the slot empty.
func (j *JitterBuffer) adaptDepth() {
	depth := j.depth()
	if depth > j.opt.MaxDepth {
		j.resync(j.highest)
		j.resetWindow()
		j.shrinkWait = 0
		return
	}
	if j.shrinkWait > 0 {
		j.shrinkWait++
		droppable := depth >= 2 && j.has(j.next+1)
		switch {
		case droppable && (j.quiet(j.next) || j.shrinkWait > shrinkPatience):
			j.discard(j.next)
			j.next++
			j.shrinkWait = 0
			j.resetWindow()
		case j.shrinkWait > shrinkPatience:
			j.shrinkWait = 0 // never two frames deep in all that time
			j.resetWindow()
		}
		return
	}
	if j.window.slots < shrinkWindow {
		return
	}
	if j.window.allows(j.shrinkNeed()) {
		j.shrinkWait = 1
	}
	j.resetWindow()
}

// shrinkNeed returns the slack the packets of a window must have had before
// the buffer drops a frame: one frame and a margin, less the PullDelay the
// caller can wait for a packet. Under loss it adds one more frame, so the
// packet after a lost one is there for its FEC data.
func (j *JitterBuffer) shrinkNeed() time.Duration {
	need := FrameDuration + shrinkMargin - j.opt.PullDelay
	if j.loss > lossMargin {
		need += FrameDuration
	}
	return need
}

// quiet reports whether the packet of seq is at most half the average
// packet size. With variable bitrate Opus, pauses between words encode to
// much smaller packets than speech, so dropping one is hardly heard.
func (j *JitterBuffer) quiet(seq uint32) bool {
	if !j.has(seq) {
		return true
	}
	return float64(len(j.slots[seq%jitterRing].payload)) <= j.avgPayload/2
}

func (j *JitterBuffer) resetWindow() { j.window.reset() }
