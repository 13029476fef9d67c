package relay

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/proto/pb"
	"github.com/vm-voice/vm/relay/meta"
)

// handleMarkListened records that I played a message and sends a
// Listened event to its sender the first time. Marking one's own message
// stores nothing.
func (ss *session) handleMarkListened(ctx context.Context, me string, r *pb.MarkListened) (*pb.Response, error) {
	if err := ss.checkAccess(ctx, me, r.Conversation); err != nil {
		return nil, err
	}

	id, err := ulid.ParseStrict(r.MessageId)
	if err != nil {
		return nil, badRequest("invalid message id %q: want a 26-character ULID", r.MessageId)
	}
	info, err := ss.s.meta.FindMessage(ctx, r.Conversation, id.String())
	if errors.Is(err, meta.ErrNotFound) {
		return nil, errorf(pb.ErrorCode_ERROR_CODE_NOT_FOUND, "message %s not found in %s", r.MessageId, r.Conversation)
	}
	if err != nil {
		return nil, unavailable("read message", err)
	}

	empty := &pb.Response{Body: &pb.Response_Empty{Empty: &pb.Empty{}}}
	if info.Sender == me {
		return empty, nil
	}

	at := ss.s.now()
	first, err := ss.s.meta.MarkListened(ctx, info.MessageId, me, at)
	if err != nil {
		return nil, unavailable("store listen receipt", err)
	}
	if first {
		ss.s.hub.listened(info.Sender, &pb.Listened{
			MessageId:    info.MessageId,
			Conversation: info.Conversation,
			Handle:       me,
			AtUnixMs:     at.UnixMilli(),
		})
	}
	return empty, nil
}

// addReceipts fills the listened fields of msgs for me: whether I played
// each message and, for my own messages, who played them.
//
// NOTE: this reads one receipts record per message, so a full listing of
// 1000 messages makes 1000 key-value reads.
func (ss *session) addReceipts(ctx context.Context, me string, msgs []*pb.MessageInfo) error {
	for _, m := range msgs {
		r, err := ss.s.meta.Receipts(ctx, m.MessageId)
		if err != nil {
			return unavailable("read listen receipts", err)
		}
		_, m.Listened = r[me]
		if m.Sender == me && len(r) > 0 {
			m.ListenedBy = slices.Sorted(maps.Keys(r))
		}
	}
	return nil
}
