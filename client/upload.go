package client

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// Send uploads an encoded message to a user or channel and returns once
// the relay has stored it durably. msgID is a ULID chosen by the caller.
// Repeating Send with the same msgID after a failure stores the message
// once, and the relay reports the repeat as a duplicate. The message's
// creation time is the time in msgID.
//
// Send checks the relay's limits from Login before it uploads anything:
// a message longer than the limit fails with ErrTooLong.
func (c *Conn) Send(ctx context.Context, to proto.Recipient, enc *audio.Encoded, msgID string) (*pb.UploadResult, error) {
	id, err := ulid.ParseStrict(msgID)
	if err != nil {
		return nil, fmt.Errorf("send: invalid message id %q: %w", msgID, err)
	}
	if err := c.checkMessage(enc); err != nil {
		return nil, fmt.Errorf("send to %s: %w", to, err)
	}
	req := &pb.Request{Body: &pb.Request_Upload{Upload: &pb.Upload{
		MessageId:       id.String(),
		To:              to.String(),
		SampleRate:      proto.SampleRate,
		Channels:        1,
		PreSkip:         uint32(enc.PreSkip),
		InputSampleRate: uint32(enc.InputRate),
		CreatedUnixMs:   int64(id.Time()),
	}}}
	var resp pb.Response
	err = c.exchange(ctx, req, func(w *bufio.Writer) error {
		return writeRecords(w, enc)
	}, func(r *bufio.Reader) error {
		return readResponse(r, &resp)
	})
	if err != nil {
		return nil, fmt.Errorf("send %s to %s: %w", id, to, err)
	}
	res := resp.GetUpload()
	if res == nil || res.GetMessageId() != id.String() {
		return nil, fmt.Errorf("send %s to %s: %w: no upload result for this message", id, to, ErrBadResponse)
	}
	c.log.Debug("message stored", "msg_id", id.String(), "conv", res.GetConversation(),
		"bytes", res.GetBytes(), "duplicate", res.GetDuplicate())
	return res, nil
}

// checkMessage checks enc against the wire limits and the relay's limits
// from Login.
func (c *Conn) checkMessage(enc *audio.Encoded) error {
	if enc == nil || len(enc.Packets) == 0 || enc.Samples <= 0 {
		return fmt.Errorf("empty message")
	}
	var total int64
	for i, p := range enc.Packets {
		if len(p) == 0 || len(p) > proto.MaxOpusPacket {
			return fmt.Errorf("Opus packet %d has %d bytes, want 1 to %d", i, len(p), proto.MaxOpusPacket)
		}
		total += int64(len(p))
	}
	if c.login == nil {
		return nil
	}
	dur := SamplesDuration(enc.Samples)
	if limit := time.Duration(c.login.GetMaxMessageMs()) * time.Millisecond; limit > 0 && dur > limit {
		return fmt.Errorf("%w: the message lasts %s, above the relay's limit of %s",
			ErrTooLong, dur.Round(time.Millisecond), limit)
	}
	if limit := int64(c.login.GetMaxMessageBytes()); limit > 0 && total > limit {
		return fmt.Errorf("%w: the encoded message has %d bytes, above the relay's limit of %d; "+
			"a lower --bitrate makes it smaller", ErrTooLong, total, limit)
	}
	return nil
}

// SamplesDuration converts a length in 48 kHz samples to a duration.
func SamplesDuration(samples int64) time.Duration {
	return time.Duration(samples) * time.Second / proto.SampleRate
}

// writeRecords writes one frame record per packet and the end record.
func writeRecords(w *bufio.Writer, enc *audio.Encoded) error {
	var buf []byte
	last := len(enc.Packets) - 1
	for i, p := range enc.Packets {
		f := proto.Frame{Seq: uint32(i), Timestamp: uint32(i * proto.FrameSamples), Payload: p}
		if i == 0 {
			f.Flags |= proto.FlagFirst
		}
		if i == last {
			f.Flags |= proto.FlagLast
		}
		buf = proto.AppendFrameRecord(buf[:0], &f)
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("write frame %d: %w", i, err)
		}
	}
	buf = proto.AppendEndRecord(buf[:0], uint64(enc.Samples))
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write end record: %w", err)
	}
	return nil
}
