package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vm-voice/vm/audio/oggopus"
	"github.com/vm-voice/vm/proto"
)

// Timeline of one measured run.
const (
	warmup   = time.Second
	maxDrain = 2 * time.Second
	// lateAfter is the latency from which a datagram counts as late.
	lateAfter = 60 * time.Millisecond
)

// tocHybridFB20 is the TOC byte of a one-frame Opus packet in hybrid
// full-band mode with a 20 ms frame (configuration 15, code 0, RFC 6716
// section 3.1), so the relay's packet check accepts the bench payloads.
const tocHybridFB20 = 15 << 3

// Payload layout behind the TOC byte: the send time in nanoseconds since
// the bench's base time, then the sequence number.
const (
	stampOffset = 1
	seqOffset   = 9
	minPayload  = 13
)

// plan is the timeline and load of one run.
type plan struct {
	listeners int
	pps       int
	payload   int
	seconds   int
}

func (p plan) period() time.Duration { return time.Second / time.Duration(p.pps) }
func (p plan) warmFrames() int       { return int(warmup / p.period()) }
func (p plan) measuredFrames() int   { return p.seconds * p.pps }
func (p plan) expected() int64       { return int64(p.measuredFrames()) * int64(p.listeners) }
func (p plan) measured(seq int) bool {
	return seq >= p.warmFrames() && seq < p.warmFrames()+p.measuredFrames()
}
func (p plan) totalFrames() int        { return p.warmFrames() + p.measuredFrames() + 1 }
func (p plan) duration() time.Duration { return time.Duration(p.totalFrames())*p.period() + maxDrain }

func (p plan) validate() error {
	switch {
	case p.listeners < 1 || p.listeners > 10000:
		return fmt.Errorf("invalid listener count %d: use 1 to 10000", p.listeners)
	case p.pps < 1 || p.pps > 1000:
		return fmt.Errorf("invalid packets per second %d: use 1 to 1000", p.pps)
	case p.payload < minPayload || p.payload > proto.MaxDatagramSize-proto.FrameHeaderSize:
		return fmt.Errorf("invalid payload size %d: use %d to %d bytes", p.payload, minPayload, proto.MaxDatagramSize-proto.FrameHeaderSize)
	case p.seconds < 1 || p.seconds > 600:
		return fmt.Errorf("invalid measured seconds %d: use 1 to 600", p.seconds)
	}
	return nil
}

// clock stamps send and receive times on one monotonic clock, which the
// talker and the listeners share because they run in this process.
type clock struct{ base time.Time }

func (c clock) now() int64 { return int64(time.Since(c.base)) }

// makePayload returns a payload of size bytes for frame seq, stamped
// with the current time: an Opus TOC byte, the stamp, the sequence number
// and non-zero filler.
func (c clock) makePayload(seq uint32, size int) []byte {
	p := make([]byte, size)
	p[0] = tocHybridFB20
	for i := minPayload; i < size; i++ {
		p[i] = byte(i)
	}
	binary.BigEndian.PutUint32(p[seqOffset:], seq)
	binary.BigEndian.PutUint64(p[stampOffset:], uint64(c.now()))
	return p
}

// checkPayloadShape confirms that bench payloads are 20 ms Opus packets
// to the relay's packet check.
func checkPayloadShape(size int) error {
	n, err := oggopus.PacketSamples(clock{time.Now()}.makePayload(0, size))
	if err != nil || n != proto.FrameSamples {
		return fmt.Errorf("bench payload is not a 20 ms Opus packet (%d samples, %v)", n, err)
	}
	return nil
}

// recorder keeps the latency of each (listener, frame) pair, the first
// copy only.
type recorder struct {
	clk    clock
	plan   plan
	frames int
	// latency has listeners*frames slots; 0 means not received, so a
	// received latency is stored plus one.
	latency   []atomic.Int64
	measured  atomic.Int64
	dups      atomic.Int64
	malformed atomic.Int64
}

func newRecorder(clk clock, p plan) *recorder {
	return &recorder{clk: clk, plan: p, frames: p.totalFrames(), latency: make([]atomic.Int64, p.listeners*p.totalFrames())}
}

// record takes one payload received by listener i.
func (r *recorder) record(i int, payload []byte) {
	now := r.clk.now()
	if len(payload) < minPayload {
		r.malformed.Add(1)
		return
	}
	seq := int(binary.BigEndian.Uint32(payload[seqOffset:]))
	sent := int64(binary.BigEndian.Uint64(payload[stampOffset:]))
	if seq >= r.frames || i < 0 || i >= r.plan.listeners {
		r.malformed.Add(1)
		return
	}
	if !r.latency[i*r.frames+seq].CompareAndSwap(0, now-sent+1) {
		r.dups.Add(1)
		return
	}
	if r.plan.measured(seq) {
		r.measured.Add(1)
	}
}

// waitDrained waits until every measured datagram arrived or maxDrain
// has passed.
func (r *recorder) waitDrained(ctx context.Context) {
	deadline := time.Now().Add(maxDrain)
	want := r.plan.expected()
	for r.measured.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

// latencies returns the sorted latencies of the measured frames received
// so far.
func (r *recorder) latencies() []time.Duration {
	out := make([]time.Duration, 0, r.plan.expected())
	lo, hi := r.plan.warmFrames(), r.plan.warmFrames()+r.plan.measuredFrames()
	for i := range r.plan.listeners {
		for seq := lo; seq < hi; seq++ {
			if v := r.latency[i*r.frames+seq].Load(); v != 0 {
				out = append(out, time.Duration(v-1))
			}
		}
	}
	slices.Sort(out)
	return out
}

// talker sends the frames of one run to the system under test.
type talker interface {
	// send sends frame seq with payload p; last marks the final frame.
	send(seq uint32, p []byte, last bool) error
}

// window contains the CPU times, wall time and send lag that drive measured.
type window struct {
	cpu        cpuSample
	benchCPU   time.Duration
	wall       time.Duration
	sendLagMax time.Duration
}

// drive sends the frames of p to t on schedule: the warm-up, then the
// measured window, during which it samples the CPU time of process pid,
// then the drain, then one last frame flagged as such.
func drive(ctx context.Context, p plan, clk clock, t talker, rec *recorder, pid int) (window, error) {
	var w window
	var cpu0 cpuSample
	var self0 time.Duration
	var wall0 time.Time
	start := time.Now()
	last := p.warmFrames() + p.measuredFrames()
	for seq := 0; seq < last; seq++ {
		if seq == p.warmFrames() {
			cpu0, self0, wall0 = mustCPU(pid), selfCPU(), time.Now()
		}
		lag, err := waitUntil(ctx, start.Add(time.Duration(seq)*p.period()))
		if err != nil {
			return w, err
		}
		w.sendLagMax = max(w.sendLagMax, lag)
		if err := t.send(uint32(seq), clk.makePayload(uint32(seq), p.payload), false); err != nil {
			return w, fmt.Errorf("send frame %d: %w", seq, err)
		}
	}
	rec.waitDrained(ctx)
	w.cpu = mustCPU(pid).sub(cpu0)
	w.benchCPU = selfCPU() - self0
	w.wall = time.Since(wall0)
	if err := t.send(uint32(last), clk.makePayload(uint32(last), p.payload), true); err != nil {
		return w, fmt.Errorf("send last frame %d: %w", last, err)
	}
	return w, nil
}

// mustCPU samples pid, or returns zero when the process is gone; the
// result line then shows no CPU figure rather than a wrong one.
func mustCPU(pid int) cpuSample {
	s, _ := readCPU(pid)
	return s
}

// waitUntil sleeps until t and returns how late it woke.
func waitUntil(ctx context.Context, t time.Time) (time.Duration, error) {
	if d := time.Until(t); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-timer.C:
		}
	}
	return max(0, time.Since(t)), nil
}
