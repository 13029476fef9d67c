package audio

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vm-voice/vm/proto"
)

// epoch is the start of every simulated clock.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// netPacket is one simulated datagram: a frame and its arrival offset.
type netPacket struct {
	frame proto.Frame
	at    time.Duration
}

// network describes how a simulated path delivers a spurt of frames.
type network struct {
	frames   int
	firstSeq uint32
	delay    time.Duration                  // base one-way delay
	jitter   func(seq uint32) time.Duration // extra delay, nil for none
	lost     func(seq uint32) bool          // nil for no loss
}

// packets returns the frames that arrive, sorted by arrival. Frame i is sent
// at i*20 ms and the last one carries FlagLast.
func (n network) packets() []netPacket {
	var out []netPacket
	for i := range n.frames {
		seq := n.firstSeq + uint32(i)
		if n.lost != nil && n.lost(seq) {
			continue
		}
		f := proto.Frame{Seq: seq, Timestamp: uint32(i) * FrameSamples, Payload: []byte{byte(seq), byte(seq >> 8)}}
		if i == 0 {
			f.Flags |= proto.FlagFirst
		}
		if i == n.frames-1 {
			f.Flags |= proto.FlagLast
		}
		at := time.Duration(i)*FrameDuration + n.delay
		if n.jitter != nil {
			at += n.jitter(seq)
		}
		out = append(out, netPacket{frame: f, at: at})
	}
	slices.SortStableFunc(out, func(a, b netPacket) int { return int(a.at - b.at) })
	return out
}

// runBuffer plays packets through jb with slots every 20 ms starting at
// phase, until PlayoutEnd or maxSlots slots, and returns every playout.
func runBuffer(jb *JitterBuffer, pkts []netPacket, phase time.Duration, maxSlots int) []Playout {
	var out []Playout
	for slot := range maxSlots {
		now := epoch.Add(time.Duration(slot)*FrameDuration + phase)
		for len(pkts) > 0 && !epoch.Add(pkts[0].at).After(now) {
			jb.Push(&pkts[0].frame, epoch.Add(pkts[0].at))
			pkts = pkts[1:]
		}
		po := jb.Next(now)
		po.Payload = slices.Clone(po.Payload)
		out = append(out, po)
		if po.Kind == PlayoutEnd {
			break
		}
	}
	return out
}

// playedSeqs returns the sequence numbers of Packet and FEC playouts.
func playedSeqs(pos []Playout) []uint32 {
	var out []uint32
	for _, po := range pos {
		if po.Kind == PlayoutPacket || po.Kind == PlayoutFEC {
			out = append(out, po.Seq)
		}
	}
	return out
}

func countKind(pos []Playout, k PlayoutKind) int {
	n := 0
	for _, po := range pos {
		if po.Kind == k {
			n++
		}
	}
	return n
}

func seqRange(first uint32, n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = first + uint32(i)
	}
	return out
}

func TestJitterBufferInOrder(t *testing.T) {
	tests := map[string]uint32{
		"from zero":            0,
		"across sequence wrap": 0xFFFFFFF0,
	}
	for name, first := range tests {
		t.Run(name, func(t *testing.T) {
			jb := NewJitterBuffer(JitterOptions{})
			pkts := network{frames: 50, firstSeq: first, delay: 3 * time.Millisecond}.packets()
			pos := runBuffer(jb, pkts, 10*time.Millisecond, 200)

			if got, want := playedSeqs(pos), seqRange(first, 50); !slices.Equal(got, want) {
				t.Errorf("played %v, want %v", got, want)
			}
			if got := countKind(pos, PlayoutPacket); got != 50 {
				t.Errorf("got %d packet playouts, want 50", got)
			}
			if got := pos[len(pos)-1].Kind; got != PlayoutEnd {
				t.Errorf("last playout is %v, want end", got)
			}
			st := jb.Stats()
			if st.Concealed+st.Inserted+st.FECRecovered+st.Late != 0 {
				t.Errorf("got stats %+v, want no concealment and no late packets", st)
			}
		})
	}
}

func TestJitterBufferPayloadOfSlot(t *testing.T) {
	jb := NewJitterBuffer(JitterOptions{})
	pkts := network{frames: 5, delay: time.Millisecond}.packets()
	pos := runBuffer(jb, pkts, 5*time.Millisecond, 50)
	for _, po := range pos {
		if po.Kind != PlayoutPacket {
			continue
		}
		if got := po.Payload[0]; got != byte(po.Seq) {
			t.Errorf("slot %d: got payload of frame %d", po.Seq, got)
		}
	}
}

func TestJitterBufferReorderWithinDepth(t *testing.T) {
	jb := NewJitterBuffer(JitterOptions{})
	n := network{frames: 40, delay: 2 * time.Millisecond}
	n.jitter = func(seq uint32) time.Duration {
		switch seq {
		case 10:
			return 11 * time.Millisecond // arrives after 11
		case 11:
			return -10 * time.Millisecond
		}
		return 0
	}
	pos := runBuffer(jb, n.packets(), 15*time.Millisecond, 200)

	if got, want := playedSeqs(pos), seqRange(0, 40); !slices.Equal(got, want) {
		t.Errorf("played %v, want %v", got, want)
	}
	if got := countKind(pos, PlayoutPacket); got != 40 {
		t.Errorf("got %d packet playouts, want 40", got)
	}
	if st := jb.Stats(); st.Late != 0 {
		t.Errorf("got %d late packets, want 0", st.Late)
	}
}

func TestJitterBufferDuplicates(t *testing.T) {
	jb := NewJitterBuffer(JitterOptions{})
	pkts := network{frames: 20, delay: time.Millisecond}.packets()
	var doubled []netPacket
	for _, p := range pkts {
		doubled = append(doubled, p, netPacket{frame: p.frame, at: p.at + 5*time.Millisecond})
	}
	slices.SortStableFunc(doubled, func(a, b netPacket) int { return int(a.at - b.at) })
	pos := runBuffer(jb, doubled, 10*time.Millisecond, 100)

	if got, want := playedSeqs(pos), seqRange(0, 20); !slices.Equal(got, want) {
		t.Errorf("played %v, want %v", got, want)
	}
	if got := jb.Stats().Duplicates; got == 0 {
		t.Errorf("got %d duplicates, want some", got)
	}
}

func TestJitterBufferRandomLossUsesFEC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lost := map[uint32]bool{}
	for seq := range uint32(1000) {
		if seq > 0 && seq < 999 && rng.Float64() < 0.05 {
			lost[seq] = true
		}
	}
	n := network{frames: 1000, delay: 2 * time.Millisecond, lost: func(s uint32) bool { return lost[s] }}
	jb := NewJitterBuffer(JitterOptions{})
	pos := runBuffer(jb, n.packets(), 12*time.Millisecond, 2000)

	var wantFEC, wantPLC uint64
	for seq := range lost {
		if lost[seq+1] {
			wantPLC++
		} else {
			wantFEC++
		}
	}
	// A missing slot may also be skipped to shrink the delay.
	st := jb.Stats()
	if st.FECRecovered+st.Skipped < wantFEC || st.FECRecovered > wantFEC {
		t.Errorf("got %d FEC recoveries and %d skipped slots, want %d recoveries", st.FECRecovered, st.Skipped, wantFEC)
	}
	if st.Concealed > wantPLC {
		t.Errorf("got %d PLC frames, want at most %d", st.Concealed, wantPLC)
	}
	if got := st.FECRecovered + st.Concealed + st.Skipped; got != uint64(len(lost)) {
		t.Errorf("got %d recovered, concealed or skipped slots, want %d lost frames", got, len(lost))
	}
	if st.Late != 0 {
		t.Errorf("got %d late packets, want 0", st.Late)
	}
	if got := uint64(len(playedSeqs(pos))); got+st.Concealed+st.Skipped+st.Dropped != 1000 {
		t.Errorf("played %d packet and FEC slots, want 1000 - %d PLC - %d skipped - %d dropped", got, st.Concealed, st.Skipped, st.Dropped)
	}
	if st.TargetDepth < 2 {
		t.Errorf("got target depth %d under loss, want at least 2 so FEC data is on time", st.TargetDepth)
	}
}

func TestJitterBufferBurstLoss(t *testing.T) {
	tests := []struct {
		name               string
		from, to           uint32 // lost frames, to exclusive
		wantPLC, wantFEC   uint64
		wantSkippedAtLeast uint64
	}{
		{name: "shorter than max depth", from: 20, to: 26, wantPLC: 5, wantFEC: 1},
		{name: "longer than max depth", from: 20, to: 60, wantSkippedAtLeast: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := network{frames: 120, delay: 2 * time.Millisecond}
			n.lost = func(s uint32) bool { return s >= tt.from && s < tt.to }
			jb := NewJitterBuffer(JitterOptions{})
			pos := runBuffer(jb, n.packets(), 12*time.Millisecond, 400)

			st := jb.Stats()
			if tt.wantSkippedAtLeast == 0 {
				if st.Concealed != tt.wantPLC {
					t.Errorf("got %d PLC frames, want %d", st.Concealed, tt.wantPLC)
				}
				if st.FECRecovered != tt.wantFEC {
					t.Errorf("got %d FEC recoveries, want %d", st.FECRecovered, tt.wantFEC)
				}
			}
			if st.Skipped < tt.wantSkippedAtLeast {
				t.Errorf("got %d skipped slots, want at least %d", st.Skipped, tt.wantSkippedAtLeast)
			}
			got := playedSeqs(pos)
			if !slices.Contains(got, tt.to) {
				t.Errorf("played %v, want it to resume at frame %d", got, tt.to)
			}
			if !slices.IsSorted(got) || got[len(got)-1] != 119 {
				t.Errorf("played %v, want increasing frames up to 119", got)
			}
			if st.Depth > st.TargetDepth+1 {
				t.Errorf("got depth %d after resync, want at most target %d + 1", st.Depth, st.TargetDepth)
			}
		})
	}
}

// uniformJitter returns a seeded jitter function with delays uniform in
// [0, spread).
func uniformJitter(seed uint64, spread time.Duration) func(uint32) time.Duration {
	rng := rand.New(rand.NewPCG(seed, seed))
	delays := map[uint32]time.Duration{}
	return func(seq uint32) time.Duration {
		d, ok := delays[seq]
		if !ok {
			d = time.Duration(rng.Int64N(int64(spread)))
			delays[seq] = d
		}
		return d
	}
}

func TestJitterBufferDepthFollowsJitter(t *testing.T) {
	calm := network{frames: 500, delay: 2 * time.Millisecond}
	jb := NewJitterBuffer(JitterOptions{})
	runBuffer(jb, calm.packets(), 12*time.Millisecond, 1000)
	calmDepth := jb.Stats().TargetDepth
	if calmDepth != 1 {
		t.Errorf("got target depth %d on a calm network, want 1", calmDepth)
	}

	jittery := network{frames: 1000, delay: 2 * time.Millisecond, jitter: uniformJitter(7, 30*time.Millisecond)}
	jb = NewJitterBuffer(JitterOptions{})
	pos := runBuffer(jb, jittery.packets(), 12*time.Millisecond, 2000)
	st := jb.Stats()
	if st.TargetDepth < 2 {
		t.Errorf("got target depth %d with 30 ms jitter, want at least 2", st.TargetDepth)
	}
	if st.Jitter < 5*time.Millisecond || st.Jitter > 15*time.Millisecond {
		t.Errorf("got jitter estimate %v for delays uniform in 0-30 ms, want about 10 ms", st.Jitter)
	}
	// Every frame still arrives, so most slots play their own packet.
	if got := countKind(pos, PlayoutPacket); got < 950 {
		t.Errorf("got %d of 1000 frames played from their packet, want at least 950 (stats %+v)", got, st)
	}
}

func TestJitterBufferDepthShrinksWhenCalm(t *testing.T) {
	const jitteryFrames, calmFrames = 300, 700
	n := network{frames: jitteryFrames + calmFrames, delay: 2 * time.Millisecond}
	spike := uniformJitter(3, 60*time.Millisecond)
	n.jitter = func(seq uint32) time.Duration {
		if seq < jitteryFrames {
			return spike(seq)
		}
		return 0
	}
	jb := NewJitterBuffer(JitterOptions{})
	var peak int
	pkts := n.packets()

	// Play until 20 frames before the end and note the deepest target.
	for slot := range 2000 {
		now := epoch.Add(time.Duration(slot)*FrameDuration + 12*time.Millisecond)
		for len(pkts) > 0 && !epoch.Add(pkts[0].at).After(now) {
			jb.Push(&pkts[0].frame, epoch.Add(pkts[0].at))
			pkts = pkts[1:]
		}
		peak = max(peak, jb.Stats().TargetDepth)
		if jb.Next(now).Kind == PlayoutEnd {
			break
		}
		if slot == jitteryFrames+calmFrames-20 {
			break
		}
	}

	st := jb.Stats()
	if peak < 3 {
		t.Errorf("got peak target depth %d with 60 ms jitter, want at least 3", peak)
	}
	if st.TargetDepth > 1 {
		t.Errorf("got target depth %d after 14 s of calm, want 1", st.TargetDepth)
	}
	if st.Depth > st.TargetDepth+1 {
		t.Errorf("got depth %d after 14 s of calm, want at most %d", st.Depth, st.TargetDepth+1)
	}
	if st.Dropped == 0 {
		t.Errorf("got no dropped frames, want some to shrink the delay")
	}
}

func TestJitterBufferEnd(t *testing.T) {
	tests := []struct {
		name     string
		lastLost bool
		wantEnd  int // slot index of the first end playout, at least
	}{
		{name: "last flag", wantEnd: 20},
		{name: "timeout without last flag", lastLost: true, wantEnd: 18 + int(DefaultEndTimeout/FrameDuration)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := network{frames: 20, delay: 2 * time.Millisecond}
			if tt.lastLost {
				n.lost = func(s uint32) bool { return s == 19 }
			}
			jb := NewJitterBuffer(JitterOptions{})
			pos := runBuffer(jb, n.packets(), 12*time.Millisecond, 200)

			endAt := slices.IndexFunc(pos, func(po Playout) bool { return po.Kind == PlayoutEnd })
			if endAt < tt.wantEnd {
				t.Errorf("got end at slot %d, want at slot %d or later", endAt, tt.wantEnd)
			}
			if endAt > tt.wantEnd+3 {
				t.Errorf("got end at slot %d, want by slot %d", endAt, tt.wantEnd+3)
			}
			if got := jb.Next(epoch.Add(time.Hour)).Kind; got != PlayoutEnd {
				t.Errorf("after the end got %v, want end", got)
			}
		})
	}
}

func TestJitterBufferLateAndNewSpurt(t *testing.T) {
	jb := NewJitterBuffer(JitterOptions{})
	pos := runBuffer(jb, network{frames: 10, delay: time.Millisecond}.packets(), 5*time.Millisecond, 100)
	if got := pos[len(pos)-1].Kind; got != PlayoutEnd {
		t.Fatalf("first spurt ended with %v, want end", got)
	}

	late := proto.Frame{Seq: 4, Timestamp: 4 * FrameSamples, Payload: []byte{4}}
	jb.Push(&late, epoch.Add(time.Second))
	if got := jb.Stats().Late; got != 1 {
		t.Errorf("got %d late packets, want 1", got)
	}
	if got := jb.Next(epoch.Add(time.Second)).Kind; got != PlayoutEnd {
		t.Errorf("after a late packet got %v, want end", got)
	}

	first := proto.Frame{Flags: proto.FlagFirst, Seq: 0, Payload: []byte{0}}
	jb.Push(&first, epoch.Add(2*time.Second))
	po := jb.Next(epoch.Add(2*time.Second + 40*time.Millisecond))
	if po.Kind != PlayoutPacket || po.Seq != 0 {
		t.Errorf("new spurt: got %v of frame %d, want packet of frame 0", po.Kind, po.Seq)
	}
}

func TestPlayoutKindString(t *testing.T) {
	tests := map[PlayoutKind]string{
		PlayoutWait: "wait", PlayoutPacket: "packet", PlayoutFEC: "fec",
		PlayoutPLC: "plc", PlayoutEnd: "end", PlayoutKind(99): "unknown",
	}
	for k, want := range tests {
		if got := k.String(); got != want {
			t.Errorf("PlayoutKind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestJitterBufferStartAtConcealsLeadingLoss(t *testing.T) {
	tests := []struct {
		name     string
		lost     int // leading frames lost
		startAt  bool
		wantSeqs []uint32
		wantPLC  uint64
	}{
		{"first frame lost, recovered from FEC", 1, true, seqRange(0, 30), 0},
		{"two frames lost, one concealed", 2, true, seqRange(1, 29), 1},
		{"without StartAt the spurt begins late", 1, false, seqRange(1, 29), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lost := func(seq uint32) bool { return int(seq) < tt.lost }
			pkts := network{frames: 30, delay: 3 * time.Millisecond, lost: lost}.packets()
			jb := NewJitterBuffer(JitterOptions{})
			if tt.startAt {
				jb.StartAt(0)
			}
			pos := runBuffer(jb, pkts, 10*time.Millisecond, 200)

			if got := playedSeqs(pos); !slices.Equal(got, tt.wantSeqs) {
				t.Errorf("played %v, want %v", got, tt.wantSeqs)
			}
			if got := jb.Stats().Concealed; got != tt.wantPLC {
				t.Errorf("got %d concealed frames, want %d", got, tt.wantPLC)
			}
		})
	}
}

// A StartAt further back than MaxDepth frames is ignored, so a player
// that joins late does not conceal a long stretch it never had.
func TestJitterBufferStartAtTooFarBack(t *testing.T) {
	pkts := network{frames: 30, firstSeq: 100, delay: 3 * time.Millisecond}.packets()
	jb := NewJitterBuffer(JitterOptions{})
	jb.StartAt(0)
	pos := runBuffer(jb, pkts, 10*time.Millisecond, 200)

	if got, want := playedSeqs(pos), seqRange(100, 30); !slices.Equal(got, want) {
		t.Errorf("played %v, want %v", got, want)
	}
	if got := jb.Stats().Concealed; got != 0 {
		t.Errorf("got %d concealed frames, want 0", got)
	}
}
