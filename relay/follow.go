package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/audio/oggopus"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// codeTalkFailed resets a FollowMessage stream whose live upload ended
// without storing the message.
const codeTalkFailed = 0x21

// handleFollow sends a message frame by frame: a FollowHeader response,
// upload records from r.FromSeq on, the end record, then the end of the
// stream. A transmission in progress is followed to its end; any other
// message is read from its stored blob.
func (ss *session) handleFollow(ctx context.Context, str *quic.Stream, r *pb.FollowMessage) {
	ctx, cancel := context.WithTimeout(ctx, ss.s.cfg.MaxMessageDuration+requestTimeout)
	defer cancel()
	id, err := ss.checkFollow(ctx, r)
	if err != nil {
		ss.reply(str, nil, err)
		return
	}
	if t := ss.s.hub.talk(id); t != nil && t.conv == r.Conversation {
		ss.followLive(ctx, str, t, int(r.FromSeq))
		return
	}
	ss.followStored(ctx, str, r)
}

// checkFollow checks that the caller may read the conversation and
// returns the canonical message id.
func (ss *session) checkFollow(ctx context.Context, r *pb.FollowMessage) (string, error) {
	me, err := ss.registered()
	if err != nil {
		return "", err
	}
	if err := ss.checkAccess(ctx, me, r.Conversation); err != nil {
		return "", err
	}
	id, err := ulid.ParseStrict(r.MessageId)
	if err != nil {
		return "", badRequest("invalid message id %q: want a 26-character ULID", r.MessageId)
	}
	return id.String(), nil
}

// followLive writes the frames of t from sequence number from on as they
// arrive, then the end record once the message is stored. It resets the
// stream when the upload fails.
func (ss *session) followLive(ctx context.Context, str *quic.Stream, t *transmission, from int) {
	hdr := &pb.FollowHeader{Info: t.info(), Live: true, PreSkip: t.preSkip}
	if !ss.writeFollowHeader(str, hdr) {
		return
	}
	var buf []byte
	for next := from; ; {
		st := t.since(next)
		buf = buf[:0]
		for i := range st.frames {
			buf = proto.AppendFrameRecord(buf, &st.frames[i])
		}
		next += len(st.frames)
		if st.done && st.stored {
			buf = proto.AppendEndRecord(buf, st.samples)
		}
		if !ss.writeFollow(str, buf, t.id) {
			return
		}
		if st.done {
			ss.endFollow(str, st.stored)
			return
		}
		select {
		case <-st.wake:
		case <-ctx.Done():
			str.CancelWrite(codeShutdown)
			return
		}
	}
}

// endFollow closes a followed stream after a stored message, or resets it
// after a failed upload.
func (ss *session) endFollow(str *quic.Stream, stored bool) {
	if stored {
		str.Close()
		return
	}
	str.CancelWrite(codeTalkFailed)
}

// followStored writes the frames of a stored message from r.FromSeq on,
// then its end record.
func (ss *session) followStored(ctx context.Context, str *quic.Stream, r *pb.FollowMessage) {
	info, body, size, err := ss.openMessage(ctx, &pb.FetchMessage{MessageId: r.MessageId, Conversation: r.Conversation})
	if err != nil {
		ss.reply(str, nil, err)
		return
	}
	f, err := oggopus.Read(body, size)
	body.Close()
	if err != nil {
		ss.reply(str, nil, fmt.Errorf("read stored message %s: %w", info.MessageId, err))
		return
	}
	hdr := &pb.FollowHeader{Info: info, PreSkip: uint32(f.Head.PreSkip)}
	if !ss.writeFollowHeader(str, hdr) {
		return
	}
	buf := storedRecords(f, int(r.FromSeq))
	if ss.writeFollow(str, buf, info.MessageId) {
		str.Close()
	}
}

// storedRecords returns the upload records of f's packets from sequence
// number from on and its end record.
func storedRecords(f *oggopus.File, from int) []byte {
	var buf []byte
	last := len(f.Packets) - 1
	for seq := from; seq <= last; seq++ {
		fr := proto.Frame{Seq: uint32(seq), Timestamp: uint32(seq * proto.FrameSamples), Payload: f.Packets[seq]}
		if seq == 0 {
			fr.Flags |= proto.FlagFirst
		}
		if seq == last {
			fr.Flags |= proto.FlagLast
		}
		buf = proto.AppendFrameRecord(buf, &fr)
	}
	return proto.AppendEndRecord(buf, uint64(f.Samples))
}

func (ss *session) writeFollowHeader(str *quic.Stream, hdr *pb.FollowHeader) bool {
	str.SetWriteDeadline(time.Now().Add(requestTimeout))
	if err := proto.WriteMessage(str, &pb.Response{Body: &pb.Response_Follow{Follow: hdr}}); err != nil {
		str.CancelWrite(codeStreamRejected)
		return false
	}
	return true
}

// writeFollow writes buf under a write deadline and resets the stream
// when the write fails.
func (ss *session) writeFollow(str *quic.Stream, buf []byte, id string) bool {
	if len(buf) == 0 {
		return true
	}
	str.SetWriteDeadline(time.Now().Add(requestTimeout))
	if _, err := str.Write(buf); err != nil {
		ss.logger().Debug("follow message", "msg_id", id, "bytes", len(buf), "err", err)
		str.CancelWrite(codeStreamRejected)
		return false
	}
	return true
}
