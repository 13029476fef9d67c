package client

import (
	"time"

	"github.com/vm-voice/vm/audio"
)

// This file is the engine's seam to the audio processing it needs beyond
// encoding: the live player (jitter buffer and decoder), mixing, level
// metering and time-scale changes, all from package audio.

// livePlayerStats counts what a live player did with one transmission.
type livePlayerStats struct {
	Played    int // frames decoded from their own packet
	Recovered int // lost frames rebuilt from the next packet's FEC data
	Concealed int // lost frames filled by packet loss concealment
	Inserted  int // concealed slots added while a late frame was awaited, which grow the delay
	Late      int // frames that arrived after their slot was played
	Dropped   int // frames discarded to bring the delay down
	Skipped   int // missing frames jumped over after a long gap, not concealed
}

// livePlayer turns the frames of one transmission into 20 ms of PCM per
// call, concealing lost frames.
type livePlayer interface {
	// Push adds a received frame.
	Push(f LiveFrame)
	// Next fills out with the next 20 ms. It returns false, with out
	// silent, while the player is buffering or has played the last frame.
	Next(now time.Time, out []float32) bool
	// EndAt sets the transmission's length in frames, from TalkEnd, so
	// the player ends even when the frame marked last was lost.
	EndAt(frames uint32)
	// Ended reports whether the last frame's slot has been played.
	Ended() bool
	// Due returns the time by which the next slot's frame is expected to
	// arrive, or false when there is no frame to wait for.
	Due() (time.Time, bool)
	Stats() livePlayerStats
}

// newLivePlayer returns a player for one transmission whose playback
// starts at frame from: an adaptive jitter buffer whose depth follows the
// measured jitter. played, unless nil, is called with each slot the player
// fills.
func newLivePlayer(from uint32, played func(audio.Playout)) (livePlayer, error) {
	p, err := audio.NewLivePlayer(audio.JitterOptions{PullDelay: maxPullDelay})
	if err != nil {
		return nil, err
	}
	p.StartAt(from)
	return &jitterPlayer{p: p, played: played}, nil
}

// jitterPlayer adapts audio.LivePlayer to livePlayer.
type jitterPlayer struct {
	p      *audio.LivePlayer
	played func(audio.Playout)
	ended  bool
}

func (j *jitterPlayer) Push(f LiveFrame) {
	j.p.Push(&f.Frame, f.Arrival)
}

func (j *jitterPlayer) Next(now time.Time, out []float32) bool {
	// A decode error is concealed by the player; the slot still plays.
	po, _ := j.p.Next(now, out)
	if j.played != nil {
		j.played(po)
	}
	switch po.Kind {
	case audio.PlayoutEnd:
		j.ended = true
		return false
	case audio.PlayoutWait:
		return false
	}
	return true
}

func (j *jitterPlayer) EndAt(frames uint32)    { j.p.EndAt(frames) }
func (j *jitterPlayer) Ended() bool            { return j.ended }
func (j *jitterPlayer) Due() (time.Time, bool) { return j.p.Due() }

func (j *jitterPlayer) Stats() livePlayerStats {
	st := j.p.Stats()
	return livePlayerStats{
		Played:    int(st.Played),
		Recovered: int(st.FECRecovered),
		Concealed: int(st.Concealed),
		Inserted:  int(st.Inserted),
		Late:      int(st.Late),
		Dropped:   int(st.Dropped),
		Skipped:   int(st.Skipped),
	}
}

// mixInto adds src to dst.
func mixInto(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

// softLimit keeps mixed samples within [-1, 1].
func softLimit(x []float32) { audio.SoftLimit(x) }

// levelDBFS returns the RMS level of frame in dBFS.
func levelDBFS(frame []float32) float64 { return audio.LevelDBFS(frame) }

// stretchPCM plays pcm at speed, keeping the pitch.
func stretchPCM(pcm []float32, speed float64) []float32 {
	if speed == 0 || speed == 1 {
		return pcm
	}
	return audio.Stretch(pcm, speed)
}

// shortenSilences shortens pauses longer than maxGap to maxGap.
func shortenSilences(pcm []float32, maxGap time.Duration) []float32 {
	return audio.ShortenSilences(pcm, audio.SampleRate, maxGap)
}
