package client

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/proto"
)

// Catch-up tuning: how a listener who joins a transmission late hears
// its stored beginning before the live edge.
const (
	catchUpSpeed    = 2
	catchUpMaxGap   = 300 * time.Millisecond // pauses in the backlog are cut to this
	catchUpEdgeGap  = 500 * time.Millisecond // a Follow stream silent this long has stalled
	catchUpLag      = 3                      // frames left undecoded while catching up, for late datagrams
	catchUpHandover = 10                     // catch-up ends once fewer frames than this are unplayed
	maxLiveFrames   = 5 * 60 * 50            // frames kept per transmission: 5 minutes
)

// incoming is one transmission that the engine receives.
type incoming struct {
	e       *Engine
	s       *Session
	t       *Talk
	id      string
	conv    string
	sender  string
	started time.Time

	mu      sync.Mutex         // guards the fields below
	packets map[uint32][]byte  // every frame received, live or by Follow
	liveLow int64              // lowest seq received as a datagram, or -1
	high    uint32             // highest seq received
	last    int64              // seq of the frame marked last, or -1
	player  livePlayer         // nil until live playback starts
	from    uint32             // first seq the player takes
	backlog []float32          // catch-up PCM still to play
	edge    bool               // catch-up reached the live edge
	playing bool               // registered with the playout loop
	stats   livePlayerStats    // of the player, kept after it ends
	sounded bool               // whether fill passed some of its audio to the speaker
	heard   bool               // whether its playback ran to the end after it sounded
	stored  bool               // whether TalkEnd reported the message stored
	cancel  context.CancelFunc // stops collect and catch-up
	wg      sync.WaitGroup     // collect and catch-up goroutines
	done    chan struct{}      // closed once the frames channel is drained

	// Catch-up PCM passes through these on its way to the backlog. They
	// keep state across pieces, so the backlog has no seams; only the
	// catch-up goroutine uses them.
	shortener *audio.SilenceShortener
	stretcher *audio.Stretcher
}

func newIncoming(e *Engine, s *Session, t *Talk) *incoming {
	ts := t.Start
	started := time.UnixMilli(ts.GetStartedUnixMs())
	if ts.GetStartedUnixMs() == 0 {
		started = time.Now()
	}
	return &incoming{e: e, s: s, t: t, id: ts.GetMessageId(), conv: ts.GetConversation(),
		sender: ts.GetSender(), started: started, packets: map[uint32][]byte{}, last: -1, liveLow: -1,
		done: make(chan struct{})}
}

// start collects the transmission's frames and, when play is set, plays
// it, from its beginning when the relay had frames before we knew of it.
func (in *incoming) start(ctx context.Context, play bool) {
	ctx, cancel := context.WithCancel(ctx)
	in.cancel = cancel
	in.wg.Go(func() { in.collect() })
	if play {
		in.play(ctx, in.t.Start.GetFramesSoFar() > 0)
	}
}

// stop ends collection and playback, for a lost session.
func (in *incoming) stop() {
	if in.cancel != nil {
		in.cancel()
	}
	in.e.out.remove(in)
}

// play registers the transmission with the playout loop. With catchUp it
// first plays the stored beginning, faster, until the live edge.
func (in *incoming) play(ctx context.Context, catchUp bool) {
	in.mu.Lock()
	if in.playing {
		in.mu.Unlock()
		return
	}
	in.playing = true
	in.edge = !catchUp
	in.mu.Unlock()
	if catchUp {
		in.shortener = audio.NewSilenceShortener(audio.SampleRate, catchUpMaxGap)
		in.stretcher = audio.NewStretcher(catchUpSpeed)
		in.wg.Go(func() { in.catchUp(ctx) })
	}
	if !in.e.out.add(in) {
		in.e.log.Debug("live talk not played: no speaker", "msg_id", in.id)
	}
}

// collect keeps every live frame and feeds the player.
func (in *incoming) collect() {
	defer close(in.done)
	for f := range in.t.Frames() {
		in.mu.Lock()
		in.keepLocked(f.Seq, f.Payload, f.Flags)
		if in.liveLow < 0 || int64(f.Seq) < in.liveLow {
			in.liveLow = int64(f.Seq)
		}
		pushed := in.player != nil && f.Seq >= in.from
		if pushed {
			in.player.Push(f)
		}
		in.mu.Unlock()
		if pushed {
			in.e.out.frameArrived()
		}
	}
}

// keepLocked stores one frame of the receiver's copy.
func (in *incoming) keepLocked(seq uint32, payload []byte, flags uint8) {
	if len(in.packets) < maxLiveFrames {
		if _, ok := in.packets[seq]; !ok {
			in.packets[seq] = payload
		}
	}
	in.high = max(in.high, seq)
	if flags&proto.FlagLast != 0 {
		in.last = int64(seq)
	}
}

// fill is the playout loop's pull: catch-up PCM first, then the live
// player.
func (in *incoming) fill(now time.Time, out []float32) (ok, done bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.backlog) > 0 {
		n := copy(out, in.backlog)
		clear(out[n:])
		in.backlog = in.backlog[n:]
		in.sounded = true
		return true, false
	}
	if !in.edge {
		return false, false
	}
	if in.player == nil && !in.startPlayerLocked() {
		return false, true
	}
	te := in.t.End()
	if te != nil {
		in.player.EndAt(uint32(te.GetFrames()))
	}
	if in.player.Next(now, out) {
		in.sounded = true
		return true, false
	}
	// A transmission that failed may report no frame count, so its end
	// event alone ends playback.
	ended := in.player.Ended() || (te != nil && te.GetFrames() == 0) || (isClosed(in.t.Ended()) && te == nil)
	return false, ended
}

// due returns the time by which the live player expects the frame of its
// next slot, or false while the transmission plays catch-up audio or has
// no frame to wait for.
func (in *incoming) due() (time.Time, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.player == nil || len(in.backlog) > 0 {
		return time.Time{}, false
	}
	return in.player.Due()
}

// startPlayerLocked creates the live player and feeds it the frames kept
// from seq in.from on.
func (in *incoming) startPlayerLocked() bool {
	var played func(audio.Playout)
	if f := in.e.opt.livePlayedForTest; f != nil {
		played = func(po audio.Playout) { f(in.id, po) }
	}
	p, err := newLivePlayer(in.from, played)
	if err != nil {
		in.e.log.Warn("live player", "msg_id", in.id, "err", err)
		return false
	}
	in.player = p
	for seq, pkt := range in.packets {
		if seq >= in.from {
			var flags uint8
			if int64(seq) == in.last {
				flags = proto.FlagLast
			}
			if seq == in.from {
				flags |= proto.FlagFirst
			}
			p.Push(LiveFrame{Frame: proto.Frame{Seq: seq, Timestamp: seq * proto.FrameSamples,
				Flags: flags, Payload: pkt}, Arrival: time.Now()})
		}
	}
	return true
}

// finished records the player's counts once playback ended. A
// transmission that sounded counts as heard, and once the relay has also
// stored it, the engine sends its listen receipt.
func (in *incoming) finished() {
	in.mu.Lock()
	if in.player != nil {
		in.stats = in.player.Stats()
	}
	st := in.stats
	in.heard = in.sounded
	receipt := in.heard && in.stored
	in.mu.Unlock()
	if receipt {
		in.e.markHeardLive(in.conv, in.id)
	}
	if f := in.e.opt.liveDoneForTest; f != nil {
		f(in.id, st)
	}
}

// markStored records that the relay stored the transmission and sends
// the listen receipt when its playback already ended heard. A
// transmission still playing gets its receipt from finished.
func (in *incoming) markStored() {
	in.mu.Lock()
	in.stored = true
	receipt := in.heard
	in.mu.Unlock()
	if receipt {
		in.e.markHeardLive(in.conv, in.id)
	}
}

// catchUp plays the transmission from its start up to the live edge,
// faster: it reads the stored beginning with Follow until the live
// datagrams cover the rest, then keeps speeding up the received frames
// while the backlog runs low. Once fewer than catchUpHandover frames are
// left, it speeds those up too and hands the frames after them to the
// live player.
func (in *incoming) catchUp(ctx context.Context) {
	next := in.followBacklog(ctx)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	dec, err := audio.NewDecoder()
	for err == nil && ctx.Err() == nil {
		in.mu.Lock()
		queued, high := len(in.backlog), in.high
		in.mu.Unlock()
		ahead := int(high) - int(next) + 1
		if queued < proto.SampleRate/5 {
			if ahead <= catchUpHandover {
				next = in.decodeKept(dec, next, high+1)
				break
			}
			next = in.decodeKept(dec, next, high+1-catchUpLag)
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	in.queueBacklog(in.stretcher.Write(in.shortener.Flush()))
	in.queueBacklog(in.stretcher.Flush())
	in.setEdge(next)
}

// followBacklog reads the stored beginning into the backlog and returns
// the seq after the last frame it decoded.
func (in *incoming) followBacklog(ctx context.Context) uint32 {
	f, err := in.s.Conn().Follow(ctx, in.conv, in.id, 0)
	if err != nil {
		in.e.log.Warn("catch up on live talk", "msg_id", in.id, "err", err)
		return 0
	}
	defer f.Close()
	dec, err := audio.NewDecoder()
	if err != nil {
		return 0
	}
	recs := make(chan followRecord, 64)
	go readFollow(f, recs)
	return in.decodeBacklog(ctx, dec, recs)
}

// decodeKept decodes the kept frames from seq from up to before seq to,
// concealing missing ones, into the backlog, and returns to.
func (in *incoming) decodeKept(dec *audio.Decoder, from, to uint32) uint32 {
	var pcm []float32
	buf := make([]float32, proto.FrameSamples)
	for seq := from; seq < to; seq++ {
		in.mu.Lock()
		pkt := in.packets[seq]
		in.mu.Unlock()
		var err error
		if pkt != nil {
			_, err = dec.Decode(pkt, buf)
		} else {
			_, err = dec.DecodePLC(buf)
		}
		if err != nil {
			clear(buf)
		}
		pcm = append(pcm, buf...)
	}
	in.appendBacklog(pcm)
	return to
}

// followRecord is one record of a Follow stream or its error.
type followRecord struct {
	rec proto.Record
	err error
}

// readFollow sends f's records to out until the end record or an error,
// then closes out.
func readFollow(f *Follow, out chan<- followRecord) {
	defer close(out)
	for {
		rec, err := f.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		out <- followRecord{rec: rec, err: err}
		if err != nil || rec.Kind == proto.RecordEnd {
			return
		}
	}
}

// decodeBacklog decodes follow records into the backlog until the live
// datagrams cover the following frames, the stream ends or stalls, and
// returns the seq after the last frame decoded.
func (in *incoming) decodeBacklog(ctx context.Context, dec *audio.Decoder, recs <-chan followRecord) uint32 {
	var next uint32
	var pcm []float32
	buf := make([]float32, 5760)
	edge := time.NewTimer(time.Hour)
	defer edge.Stop()
	for {
		select {
		case <-ctx.Done():
			return next
		case <-edge.C:
			in.appendBacklog(pcm)
			return next
		case r, ok := <-recs:
			if !ok || r.err != nil || r.rec.Kind == proto.RecordEnd {
				in.appendBacklog(pcm)
				return next
			}
			fr := r.rec.Frame
			in.mu.Lock()
			in.keepLocked(fr.Seq, fr.Payload, fr.Flags)
			in.mu.Unlock()
			if n, err := dec.Decode(fr.Payload, buf); err == nil {
				pcm = append(pcm, buf[:n]...)
			}
			next = fr.Seq + 1
			in.mu.Lock()
			covered := in.liveLow >= 0 && int64(next) > in.liveLow
			in.mu.Unlock()
			if covered {
				in.appendBacklog(pcm)
				return next
			}
			if len(pcm) >= proto.SampleRate { // flush a second at a time
				in.appendBacklog(pcm)
				pcm = nil
			}
			edge.Reset(catchUpEdgeGap)
		}
	}
}

// appendBacklog shortens pauses, speeds pcm up and queues what comes out.
// Up to a pause and about 30 ms of audio stay inside the filters until
// the next piece or the flush at the end of catch-up.
func (in *incoming) appendBacklog(pcm []float32) {
	in.queueBacklog(in.stretcher.Write(in.shortener.Write(pcm)))
}

// queueBacklog queues catch-up PCM for the playout loop.
func (in *incoming) queueBacklog(fast []float32) {
	if len(fast) == 0 {
		return
	}
	in.mu.Lock()
	in.backlog = append(in.backlog, fast...)
	in.mu.Unlock()
}

// setEdge hands playback over to the live player from frame next.
func (in *incoming) setEdge(next uint32) {
	in.mu.Lock()
	in.from, in.edge = next, true
	in.mu.Unlock()
}

// repair waits for the live frames, fills the ones lost on the way from
// the stored message and writes the complete copy to the cache.
func (in *incoming) repair(ctx context.Context) {
	select {
	case <-in.done:
	case <-ctx.Done():
		return
	}
	filled, err := in.fillFromStore(ctx)
	if err != nil {
		in.e.log.Warn("repair live copy", "msg_id", in.id, "conv", in.conv, "err", err)
		return
	}
	in.e.log.Debug("live copy repaired", "msg_id", in.id, "frames", filled)
	if f := in.e.opt.repairedForTest; f != nil {
		f(in.id, filled)
	}
}

// fillFromStore reads the stored message and writes the receiver's copy
// with its gaps filled. It returns how many frames it filled.
func (in *incoming) fillFromStore(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	f, err := in.s.Conn().Follow(ctx, in.conv, in.id, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	enc := &audio.Encoded{PreSkip: uint16(f.Header.GetPreSkip()), InputRate: proto.SampleRate}
	filled := 0
	for {
		rec, err := f.Next()
		if err != nil {
			return filled, err
		}
		if rec.Kind == proto.RecordEnd {
			enc.Samples = int64(rec.Samples)
			break
		}
		in.mu.Lock()
		pkt, ok := in.packets[rec.Frame.Seq]
		in.mu.Unlock()
		if !ok {
			pkt, filled = rec.Frame.Payload, filled+1
		}
		enc.Packets = append(enc.Packets, pkt)
	}
	return filled, in.e.cacheMessage(in.id, enc)
}

// cachePath returns where the engine keeps its copy of a message.
func (e *Engine) cachePath(msgID string) string {
	return filepath.Join(e.opt.Paths.Home, "cache", msgID+".ogg")
}

// cacheMessage writes enc as the engine's copy of message msgID.
func (e *Engine) cacheMessage(msgID string, enc *audio.Encoded) error {
	path := e.cachePath(msgID)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	werr := audio.WriteOggOpus(tmp, enc, nil, 1)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	return os.Rename(tmp.Name(), path)
}
