package audio

import (
	"fmt"
	"sync"
	"time"

	"github.com/vm-voice/vm/proto"
)

// maxPacketSamples is the decoded length of the longest Opus packet, 120 ms.
const maxPacketSamples = 5760

// LivePlayer turns the voice frames of one live transmission into 20 ms of
// PCM per slot. A JitterBuffer decides what to play. An Opus Decoder then
// decodes the packet, rebuilds a lost one from the next packet's in-band
// FEC data, or conceals it. Push and Next may be called from different
// goroutines.
type LivePlayer struct {
	mu      sync.Mutex // mu guards all fields below.
	jb      *JitterBuffer
	dec     *Decoder
	scratch []float32
}

// NewLivePlayer returns a player with an empty jitter buffer.
func NewLivePlayer(opt JitterOptions) (*LivePlayer, error) {
	dec, err := NewDecoder()
	if err != nil {
		return nil, err
	}
	return &LivePlayer{
		jb:      NewJitterBuffer(opt),
		dec:     dec,
		scratch: make([]float32, maxPacketSamples),
	}, nil
}

// Push stores a frame that arrived at now. It copies the payload.
func (p *LivePlayer) Push(f *proto.Frame, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jb.Push(f, now)
}

// Next fills out, which must hold FrameSamples samples, with the audio of
// the 20 ms slot that starts at now, and returns what filled it, with a nil
// Payload. Out is silence for PlayoutWait and PlayoutEnd. When a packet
// fails to decode, Next conceals the slot and returns the error with
// PlayoutPLC, so the caller can log it and go on.
func (p *LivePlayer) Next(now time.Time, out []float32) (Playout, error) {
	if len(out) != FrameSamples {
		return Playout{Kind: PlayoutWait}, fmt.Errorf("live playout: got a buffer of %d samples, want %d", len(out), FrameSamples)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	po := p.jb.Next(now)
	var err error
	switch po.Kind {
	case PlayoutPacket:
		err = p.decode(po, out)
	case PlayoutFEC:
		_, err = p.dec.DecodeFEC(po.Payload, out)
	case PlayoutPLC:
		_, err = p.dec.DecodePLC(out)
	default:
		clear(out)
	}
	po.Payload = nil
	if err != nil {
		return p.conceal(po.Seq, out, err)
	}
	return po, nil
}

// decode decodes a packet of any length and keeps its first 20 ms.
func (p *LivePlayer) decode(po Playout, out []float32) error {
	n, err := p.dec.Decode(po.Payload, p.scratch)
	if err != nil {
		return err
	}
	if n != FrameSamples {
		return fmt.Errorf("decode live frame %d: got %d samples, want %d", po.Seq, n, FrameSamples)
	}
	copy(out, p.scratch[:n])
	return nil
}

// conceal replaces a slot that failed to decode with PLC, or silence.
func (p *LivePlayer) conceal(seq uint32, out []float32, cause error) (Playout, error) {
	if _, err := p.dec.DecodePLC(out); err != nil {
		clear(out)
	}
	return Playout{Kind: PlayoutPLC, Seq: seq}, fmt.Errorf("live frame %d: %w", seq, cause)
}

// Due returns the time by which the packet of the next slot is expected;
// see JitterBuffer.Due.
func (p *LivePlayer) Due() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jb.Due()
}

// Stats returns the jitter buffer's counters and depth estimates.
func (p *LivePlayer) Stats() JitterStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jb.Stats()
}

// StartAt sets the first sequence number of the next spurt; see
// JitterBuffer.StartAt.
func (p *LivePlayer) StartAt(seq uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jb.StartAt(seq)
}

// EndAt sets the transmission's length in frames; see JitterBuffer.EndAt.
func (p *LivePlayer) EndAt(frames uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jb.EndAt(frames)
}
