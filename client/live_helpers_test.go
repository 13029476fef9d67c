package client

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
	"github.com/vm-voice/vm/relay"
)

// liveSpeech is the test speech sample at 48 kHz with its live encoding.
type liveSpeech struct {
	pcm     []float32 // 48 kHz mono, padded to whole frames
	packets [][]byte
	preSkip int
}

// loadSpeech decodes testdata/speech-16k.wav, resamples it to 48 kHz and
// encodes it as live talk is encoded: 20 ms frames, in-band FEC on.
func loadSpeech(t testing.TB) *liveSpeech {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "speech-16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, err := audio.DecodeFile(f, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	pcm, err = audio.Resample(audio.ToMono(pcm), proto.SampleRate)
	if err != nil {
		t.Fatal(err)
	}

	enc, err := audio.NewEncoder(audio.EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sp := &liveSpeech{preSkip: int(enc.PreSkip())}
	frames := (len(pcm.Samples) + proto.FrameSamples - 1) / proto.FrameSamples
	sp.pcm = make([]float32, frames*proto.FrameSamples)
	copy(sp.pcm, pcm.Samples)
	buf := make([]byte, 4000)
	for i := range frames {
		n, err := enc.Encode(sp.pcm[i*proto.FrameSamples:(i+1)*proto.FrameSamples], buf)
		if err != nil {
			t.Fatal(err)
		}
		sp.packets = append(sp.packets, append([]byte(nil), buf[:n]...))
	}
	return sp
}

// samples returns the message length that the end record carries.
func (sp *liveSpeech) samples() int64 {
	return int64(len(sp.packets))*proto.FrameSamples - int64(sp.preSkip)
}

// talkLive uploads sp live from session s to recipient to. With pace it
// sends one frame per 20 ms, as a microphone would.
func talkLive(t *testing.T, s *Session, to proto.Recipient, sp *liveSpeech, pace bool) *pb.UploadResult {
	t.Helper()
	up, err := s.StartLive(t.Context(), to, ulid.Make().String(), sp.preSkip)
	if err != nil {
		t.Fatalf("StartLive: %v", err)
	}
	tick := time.NewTicker(proto.FrameDuration)
	defer tick.Stop()
	for i, pkt := range sp.packets {
		if pace {
			<-tick.C
		}
		if err := up.WriteFrame(pkt, i == len(sp.packets)-1); err != nil {
			t.Fatalf("WriteFrame %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := up.Finish(ctx, sp.samples())
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return res
}

// openSession connects user u as handle through addr and subscribes.
func openSession(t testing.TB, u *user, addr, handle string) *Session {
	t.Helper()
	c, err := Dial(t.Context(), addr, u.id, u.pins, Options{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	login, err := c.Login(t.Context())
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if !login.GetRegistered() {
		if _, err := c.Register(t.Context(), handle, ""); err != nil {
			t.Fatalf("Register @%s: %v", handle, err)
		}
	}
	s, err := OpenSession(t.Context(), c, SessionOptions{})
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// nextTalk waits for the next TalkStart or TalkEnd of the session,
// skipping other events.
func nextTalk(t testing.TB, s *Session, want string) Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("event feed closed waiting for %s: %v", want, s.Err())
			}
			switch {
			case want == "start" && ev.Msg.GetTalkStart() != nil,
				want == "end" && ev.Msg.GetTalkEnd() != nil:
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event within 20s", want)
		}
	}
}

// collectFrames returns every frame of talk until its channel closes.
func collectFrames(t *testing.T, talk *Talk) []LiveFrame {
	t.Helper()
	var frames []LiveFrame
	timeout := time.After(60 * time.Second)
	for {
		select {
		case f, ok := <-talk.Frames():
			if !ok {
				return frames
			}
			frames = append(frames, f)
		case <-timeout:
			t.Fatalf("transmission did not end within 60s; got %d frames", len(frames))
		}
	}
}

// playReceived runs frames through a live player in simulated time: at
// each 20 ms slot it pushes the frames that had arrived by then and pulls
// one frame, the way the playout loop does. total is the frame count
// that TalkEnd reports. It returns the PCM and the
// player's counts.
func playReceived(t *testing.T, frames []LiveFrame, total int) ([]float32, livePlayerStats) {
	t.Helper()
	p, err := newLivePlayer(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(frames, func(i, j int) bool { return frames[i].Arrival.Before(frames[j].Arrival) })
	var pcm []float32
	out := make([]float32, proto.FrameSamples)
	now := frames[0].Arrival
	for i := 0; !p.Ended() && now.Before(frames[len(frames)-1].Arrival.Add(2*time.Second)); {
		for ; i < len(frames) && !frames[i].Arrival.After(now); i++ {
			p.Push(frames[i])
		}
		if i == len(frames) {
			p.EndAt(uint32(total)) // TalkEnd comes after the last datagram
		}
		if p.Next(now, out) {
			pcm = append(pcm, out...)
		}
		now = now.Add(proto.FrameDuration)
	}
	return pcm, p.Stats()
}

// startLiveRelay runs an in-process relay for live tests.
func startLiveRelay(t testing.TB) *relay.Server {
	t.Helper()
	return startRelay(t, relay.Config{})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
