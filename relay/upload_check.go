package relay

import (
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/audio/oggopus"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// Limits on an Upload request's header.
const (
	// maxPreSkip is 100 ms at 48 kHz, far above what encoders use
	// (libopus 1.x uses 312 samples).
	maxPreSkip = proto.SampleRate / 10
	// maxInputRate bounds the informational input sample rate.
	maxInputRate = 768000
	// maxFutureSkew is how far in the future a message id's time, or the
	// creation time, may be.
	maxFutureSkew = time.Hour
	// maxPastSkew is how far in the past they may be. A sender's retries
	// end within seconds, so only a wrong clock or a forged id is older,
	// and such a message would sort before everything vm fetch --since
	// shows.
	maxPastSkew = 24 * time.Hour
)

// uploadHeader is a checked Upload request.
type uploadHeader struct {
	id        string // canonical upper-case ULID
	serial    uint32 // Ogg stream serial number, from the id's random part
	to        proto.Recipient
	preSkip   uint16
	inputRate uint32
	created   time.Time
	// live is set for a message recorded while its sender talks, whose
	// datagrams carry stream handle liveHandle.
	live       bool
	liveHandle uint16
}

// checkUpload checks an Upload request's fields against the relay's rules.
func checkUpload(up *pb.Upload, now time.Time) (uploadHeader, error) {
	id, err := checkMessageID(up.MessageId, now)
	if err != nil {
		return uploadHeader{}, err
	}
	to, err := proto.ParseRecipient(up.To)
	if err != nil {
		return uploadHeader{}, errorf(pb.ErrorCode_ERROR_CODE_BAD_REQUEST, "%v", err)
	}
	switch {
	case up.SampleRate != proto.SampleRate:
		return uploadHeader{}, badRequest("unsupported sample rate %d Hz: upload 48000 Hz Opus", up.SampleRate)
	case up.Channels != 1:
		return uploadHeader{}, badRequest("unsupported channel count %d: upload mono Opus", up.Channels)
	case up.PreSkip > maxPreSkip:
		return uploadHeader{}, badRequest("pre-skip of %d samples above limit %d", up.PreSkip, maxPreSkip)
	case up.InputSampleRate > maxInputRate:
		return uploadHeader{}, badRequest("input sample rate %d Hz above limit %d", up.InputSampleRate, maxInputRate)
	case up.Live && (up.LiveHandle == 0 || up.LiveHandle > 0xffff):
		return uploadHeader{}, badRequest("live handle %d out of range: use 1 to 65535", up.LiveHandle)
	case !up.Live && up.LiveHandle != 0:
		return uploadHeader{}, badRequest("live handle %d on an upload that is not live: set live or leave the handle 0", up.LiveHandle)
	}
	created := ulid.Time(id.Time())
	if up.CreatedUnixMs > 0 {
		created = time.UnixMilli(up.CreatedUnixMs)
	}
	if err := checkTime("creation time "+created.UTC().Format(time.RFC3339), created, now); err != nil {
		return uploadHeader{}, err
	}
	return uploadHeader{
		id:         id.String(),
		serial:     uint32(id[12])<<24 | uint32(id[13])<<16 | uint32(id[14])<<8 | uint32(id[15]),
		to:         to,
		preSkip:    uint16(up.PreSkip),
		inputRate:  up.InputSampleRate,
		created:    created.UTC(),
		live:       up.Live,
		liveHandle: uint16(up.LiveHandle),
	}, nil
}

// checkMessageID parses a message id: a ULID whose time is at most
// maxPastSkew before now and maxFutureSkew after it.
func checkMessageID(s string, now time.Time) (ulid.ULID, error) {
	id, err := ulid.ParseStrict(s)
	if err != nil {
		return ulid.ULID{}, badRequest("invalid message id %q: want a 26-character ULID", s)
	}
	t := ulid.Time(id.Time())
	if err := checkTime(fmt.Sprintf("message id %s has time %s", s, t.UTC().Format(time.RFC3339)), t, now); err != nil {
		return ulid.ULID{}, err
	}
	return id, nil
}

// checkTime rejects a time t of a message that lies more than maxPastSkew
// before now or more than maxFutureSkew after it. label names the value
// in the error.
func checkTime(label string, t, now time.Time) error {
	switch {
	case t.After(now.Add(maxFutureSkew)):
		return badRequest("%s, more than %s in the future: check the sender's clock", label, maxFutureSkew)
	case t.Before(now.Add(-maxPastSkew)):
		return badRequest("%s, more than %s in the past: check the sender's clock and send the message again with a new id",
			label, maxPastSkew)
	}
	return nil
}

func badRequest(format string, args ...any) *Error {
	return errorf(pb.ErrorCode_ERROR_CODE_BAD_REQUEST, format, args...)
}

// frameChecker checks the records of one upload as they arrive. Frames
// carry consecutive sequence numbers from 0, timestamps seq*960 and one
// 20 ms Opus packet each, and flags mark the first and the last frame.
// Frame count and bytes stay within the relay's limits, and one end record
// follows the last frame.
type frameChecker struct {
	maxFrames int
	maxBytes  int64
	preSkip   int64

	frames  int
	bytes   int64
	last    bool // the last frame carried FlagLast
	ended   bool
	samples int64 // the end record's message length
}

func newFrameChecker(maxDur time.Duration, maxBytes int64, preSkip uint16) *frameChecker {
	return &frameChecker{
		maxFrames: int(maxDur / proto.FrameDuration),
		maxBytes:  maxBytes,
		preSkip:   int64(preSkip),
	}
}

// add checks the next record.
func (c *frameChecker) add(rec *proto.Record) error {
	if c.ended {
		return badRequest("upload record after the end record")
	}
	if rec.Kind == proto.RecordEnd {
		return c.end(rec.Samples)
	}
	return c.frame(&rec.Frame)
}

func (c *frameChecker) frame(f *proto.Frame) error {
	seq := c.frames
	switch {
	case c.last:
		return badRequest("frame %d after the frame marked last", seq)
	case f.Seq != uint32(seq):
		return badRequest("frame sequence %d out of order: want %d", f.Seq, seq)
	case f.Timestamp != uint32(seq*proto.FrameSamples):
		return badRequest("frame %d has timestamp %d: want %d", seq, f.Timestamp, seq*proto.FrameSamples)
	case f.Flags&proto.FlagEncrypted != 0:
		return badRequest("frame %d is encrypted: this relay accepts plaintext uploads only", seq)
	case f.Handle != 0:
		return badRequest("frame %d has stream handle %d: uploads use 0", seq, f.Handle)
	case (f.Flags&proto.FlagFirst != 0) != (seq == 0):
		return badRequest("frame %d: only frame 0 carries the first-frame flag", seq)
	case seq+1 > c.maxFrames:
		return errorf(pb.ErrorCode_ERROR_CODE_TOO_LARGE, "message longer than this relay's limit of %s", time.Duration(c.maxFrames)*proto.FrameDuration)
	}
	if c.bytes += int64(len(f.Payload)); c.bytes > c.maxBytes {
		return errorf(pb.ErrorCode_ERROR_CODE_TOO_LARGE, "message larger than this relay's limit of %d bytes", c.maxBytes)
	}
	n, err := oggopus.PacketSamples(f.Payload)
	if err != nil {
		return badRequest("frame %d: invalid Opus packet: %v", seq, err)
	}
	if n != proto.FrameSamples {
		return badRequest("frame %d holds %d samples of Opus audio: want %d (20 ms)", seq, n, proto.FrameSamples)
	}
	c.frames++
	c.last = f.Flags&proto.FlagLast != 0
	return nil
}

func (c *frameChecker) end(samples uint64) error {
	total := int64(c.frames) * proto.FrameSamples
	switch {
	case c.frames == 0:
		return badRequest("upload without voice frames")
	case !c.last:
		return badRequest("frame %d, the last one, lacks the last-frame flag", c.frames-1)
	case samples == 0:
		return badRequest("end record with a message length of 0 samples")
	case int64(samples) > total-c.preSkip:
		return badRequest("message length %d samples exceeds the %d samples of %d frames after pre-skip %d",
			samples, total-c.preSkip, c.frames, c.preSkip)
	case int64(samples)+c.preSkip <= total-proto.FrameSamples:
		return badRequest("message length %d samples leaves frame %d empty: drop trailing frames", samples, c.frames-1)
	}
	c.ended = true
	c.samples = int64(samples)
	return nil
}
