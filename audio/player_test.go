package audio

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vm-voice/vm/proto"
)

// speechPackets encodes the speech sample as 20 ms Opus packets with FEC.
func speechPackets(t testing.TB) [][]byte {
	t.Helper()
	enc, err := EncodePCM(loadWAV(t, "speech-16k.wav"), EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return enc.Packets
}

// decodeAll decodes every packet in order, as a lossless reference.
func decodeAll(t testing.TB, pkts [][]byte) []float32 {
	t.Helper()
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	buf := make([]float32, maxPacketSamples)
	for _, p := range pkts {
		n, err := dec.Decode(p, buf)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, buf[:n]...)
	}
	return out
}

// playLive sends pkts over a simulated network into a LivePlayer and
// returns its audio from the first played slot to the end.
func playLive(t *testing.T, pkts [][]byte, n network) ([]float32, JitterStats) {
	t.Helper()
	n.frames = len(pkts)
	arrivals := n.packets()
	for i := range arrivals {
		arrivals[i].frame.Payload = pkts[arrivals[i].frame.Seq-n.firstSeq]
	}
	p, err := NewLivePlayer(JitterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	frame := make([]float32, FrameSamples)
	for slot := range 4 * len(pkts) {
		now := epoch.Add(time.Duration(slot)*FrameDuration + 12*time.Millisecond)
		for len(arrivals) > 0 && !epoch.Add(arrivals[0].at).After(now) {
			p.Push(&arrivals[0].frame, epoch.Add(arrivals[0].at))
			arrivals = arrivals[1:]
		}
		po, err := p.Next(now, frame)
		kind := po.Kind
		if err != nil {
			t.Fatalf("slot %d: %v", slot, err)
		}
		if kind == PlayoutEnd {
			break
		}
		if kind != PlayoutWait || len(out) > 0 {
			out = append(out, frame...)
		}
	}
	return out, p.Stats()
}

func TestLivePlayerConcealsLoss(t *testing.T) {
	pkts := speechPackets(t)
	ref := decodeAll(t, pkts)
	rng := rand.New(rand.NewPCG(5, 5))
	randomLoss := map[uint32]bool{}
	for i := 1; i < len(pkts)-1; i++ {
		if rng.Float64() < 0.05 {
			randomLoss[uint32(i)] = true
		}
	}
	tests := []struct {
		name     string
		lost     func(uint32) bool
		jitter   func(uint32) time.Duration
		wantCorr float64
		wantFEC  bool // sustained loss keeps the buffer deep enough for FEC data
	}{
		{name: "no loss", wantCorr: 0.99},
		{name: "5% random loss", lost: func(s uint32) bool { return randomLoss[s] }, wantCorr: 0.9, wantFEC: true},
		{name: "5% loss and 30 ms jitter", lost: func(s uint32) bool { return randomLoss[s] },
			jitter: uniformJitter(9, 30*time.Millisecond), wantCorr: 0.9, wantFEC: true},
		{name: "burst of 8 frames", lost: func(s uint32) bool { return s >= 100 && s < 108 }, wantCorr: 0.9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st := playLive(t, pkts, network{delay: 3 * time.Millisecond, lost: tt.lost, jitter: tt.jitter})

			// Inserted and dropped frames shift later audio, so compare 200 ms
			// segments, each aligned on its own.
			corr := SegmentCorrelation(ref, got, SampleRate, 0.2, 0.1)
			t.Logf("correlation %.3f, stats %+v", corr, st)
			if corr < tt.wantCorr {
				t.Errorf("got correlation %.3f with the lossless decode, want at least %.2f (stats %+v)", corr, tt.wantCorr, st)
			}
			lost := 0
			for i := range pkts {
				if tt.lost != nil && tt.lost(uint32(i)) {
					lost++
				}
			}
			if got := st.FECRecovered + st.Concealed + st.Skipped; got != uint64(lost) {
				t.Errorf("got %d recovered, concealed or skipped frames, want %d lost (stats %+v)", got, lost, st)
			}
			if tt.wantFEC && st.FECRecovered == 0 {
				t.Errorf("got no FEC recoveries under loss (stats %+v)", st)
			}
		})
	}
}

func TestLivePlayerRejectsShortBuffer(t *testing.T) {
	p, err := NewLivePlayer(JitterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Next(epoch, make([]float32, 100)); err == nil {
		t.Error("got no error for a 100-sample buffer, want one")
	}
}

func TestLivePlayerBadPacketConcealed(t *testing.T) {
	p, err := NewLivePlayer(JitterOptions{InitialDepth: 1})
	if err != nil {
		t.Fatal(err)
	}
	// A TOC byte for a 2.5 ms CELT frame: it decodes to 120 samples, not 960.
	p.Push(&proto.Frame{Flags: proto.FlagFirst, Payload: []byte{0x80}}, epoch)
	po, err := p.Next(epoch, make([]float32, FrameSamples))
	if err == nil {
		t.Error("got no error for a 2.5 ms packet, want one")
	}
	if po.Kind != PlayoutPLC {
		t.Errorf("got %v, want plc", po.Kind)
	}
}

// BenchmarkLivePlayer measures one 20 ms slot of live playout: one Push and
// one Next, which decodes a speech packet.
func BenchmarkLivePlayer(b *testing.B) {
	pkts := speechPackets(b)
	p, err := NewLivePlayer(JitterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	out := make([]float32, FrameSamples)
	seq := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		now := epoch.Add(time.Duration(seq) * FrameDuration)
		f := proto.Frame{Seq: seq, Timestamp: seq * FrameSamples, Payload: pkts[int(seq)%len(pkts)]}
		p.Push(&f, now)
		if _, err := p.Next(now.Add(time.Millisecond), out); err != nil {
			b.Fatal(err)
		}
		seq++
	}
}

func TestLivePlayerConcurrentPushAndNext(t *testing.T) {
	pkts := speechPackets(t)[:100]
	p, err := NewLivePlayer(JitterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The reader's clock follows the pusher's, so the spurt never looks
	// timed out however the two goroutines are scheduled.
	var pushed atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, pkt := range pkts {
			f := proto.Frame{Seq: uint32(i), Timestamp: uint32(i) * FrameSamples, Payload: pkt}
			p.Push(&f, epoch.Add(time.Duration(i)*FrameDuration))
			pushed.Add(1)
		}
	}()
	out := make([]float32, FrameSamples)
	for range 2 * len(pkts) {
		now := epoch.Add(time.Duration(pushed.Load())*FrameDuration + FrameDuration/2)
		if _, err := p.Next(now, out); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	// The reader may have finished before the pusher started; what is
	// buffered then plays in the slots after the last push.
	for slot := range len(pkts) / 2 {
		now := epoch.Add(time.Duration(len(pkts)+slot) * FrameDuration)
		if _, err := p.Next(now, out); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Played == 0 {
		t.Errorf("got no played frames, want some (stats %+v)", st)
	}
}
