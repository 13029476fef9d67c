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

// BenchmarkMouthToEar measures the time from a captured 20 ms frame
// being ready at the sender to its decoded PCM at the receiver: Opus
// encoding, the live upload's datagram, the in-process relay on loopback,
// the receiver's session and Opus decoding. The jitter buffer's depth and
// the audio devices' buffers are not included. One operation is one
// frame, sent at the real-time pace of one per 20 ms, so run it with
// -benchtime=500x or so.
func BenchmarkMouthToEar(b *testing.B) {
	sp := loadSpeech(b)
	srv := startLiveRelay(b)
	addr := srv.Addr().String()
	bob := openSession(b, newUser(b), addr, "bob")
	alice := openSession(b, newUser(b), addr, "alice")
	enc, err := audio.NewEncoder(audio.EncoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	dec, err := audio.NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	up, err := alice.StartLive(b.Context(), proto.Recipient{Name: "bob"}, ulid.Make().String(), int(enc.PreSkip()))
	if err != nil {
		b.Fatal(err)
	}
	defer up.Abort()

	var mu sync.Mutex
	sent := map[uint32]time.Time{}
	var lat []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		talk := nextTalk(b, bob, "start").Talk
		pcm := make([]float32, 5760)
		for f := range talk.Frames() {
			if _, err := dec.Decode(f.Payload, pcm); err != nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			lat = append(lat, now.Sub(sent[f.Seq]))
			mu.Unlock()
		}
	}()

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
	<-done
	reportLatency(b, lat, b.N)
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
