package client

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/proto"
)

// BenchmarkMouthToEar measures the time from a 20 ms PCM frame being
// ready at the sender to its decoded PCM leaving the receiver's live
// player: Opus encoding, the live upload's datagram, the in-process relay
// on loopback, the receiver's session, the jitter buffer's hold and Opus
// decoding. The receiver is an Engine whose playout loop pulls the player
// for a speaker that takes one frame per 20 ms, as a device does. So the
// hold depends on where the pulls fall between arrivals, as with a device. The device buffers, the 20 ms of the frame itself and the
// encoder's 6.5 ms lookahead are not included. One operation is one
// frame, sent at the real-time pace of one per 20 ms, so run it with
// -benchtime=500x or so.
func BenchmarkMouthToEar(b *testing.B) {
	sp := loadSpeech(b)
	srv := startLiveRelay(b)
	addr := srv.Addr().String()

	var mu sync.Mutex // guards sent, lat and msgID
	sent := map[uint32]time.Time{}
	var lat []time.Duration
	msgID := ulid.Make().String()
	played := func(id string, po audio.Playout) {
		if po.Kind != audio.PlayoutPacket && po.Kind != audio.PlayoutFEC {
			return
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if at, ok := sent[po.Seq]; ok && id == msgID {
			lat = append(lat, now.Sub(at))
		}
	}
	liveDone := make(chan livePlayerStats, 1)
	speaker := &pacedSpeaker{tick: time.NewTicker(proto.FrameDuration)}
	startEngine(b, EngineOptions{Paths: engineUser(b, srv, "bob"), Relay: addr, AutoPlayLive: true,
		OpenCapture:       noMic,
		OpenPlayback:      func(string) (audio.FrameSink, error) { return speaker, nil },
		livePlayedForTest: played,
		liveDoneForTest:   func(_ string, st livePlayerStats) { liveDone <- st }})

	alice := openSession(b, newUser(b), addr, "alice")
	enc, err := audio.NewEncoder(audio.EncoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	up, err := alice.StartLive(b.Context(), proto.Recipient{Name: "bob"}, msgID, int(enc.PreSkip()))
	if err != nil {
		b.Fatal(err)
	}
	defer up.Abort()

	frames := len(sp.pcm) / proto.FrameSamples
	pkt := make([]byte, 4000)
	tick := time.NewTicker(proto.FrameDuration)
	defer tick.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		frame := sp.pcm[(i%frames)*proto.FrameSamples : (i%frames+1)*proto.FrameSamples]
		mu.Lock()
		sent[uint32(i)] = time.Now()
		mu.Unlock()
		n, err := enc.Encode(frame, pkt)
		if err != nil {
			b.Fatal(err)
		}
		if err := up.WriteFrame(pkt[:n], i == b.N-1); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if _, err := up.Finish(b.Context(), int64(b.N)*proto.FrameSamples-int64(enc.PreSkip())); err != nil {
		b.Fatal(err)
	}
	var st livePlayerStats
	select {
	case st = <-liveDone:
	case <-time.After(20 * time.Second):
		b.Fatal("live playback did not end within 20s")
	}
	mu.Lock()
	defer mu.Unlock()
	reportLatency(b, lat, b.N)
	b.ReportMetric(float64(st.Inserted), "inserted")
	b.ReportMetric(float64(st.Dropped), "dropped")
}

// pacedSpeaker takes one frame per tick, as an output device with one
// frame of buffer does, and discards it.
type pacedSpeaker struct {
	tick *time.Ticker
}

func (s *pacedSpeaker) Write([]float32) error {
	<-s.tick.C
	return nil
}

func (s *pacedSpeaker) Close() error {
	s.tick.Stop()
	return nil
}

// reportLatency reports the p50, p99 and max of lat in milliseconds and
// the share of frames delivered.
func reportLatency(b *testing.B, lat []time.Duration, sent int) {
	if len(lat) == 0 {
		b.Fatal("no frame arrived")
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(len(lat))/float64(sent), "delivered")
	b.ReportMetric(0, "ns/op")
}
