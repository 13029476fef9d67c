package relay

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
	"github.com/vm-voice/vm/relay/blob"
	"github.com/vm-voice/vm/relay/meta"
	gproto "google.golang.org/protobuf/proto"
)

// Listing limits.
const (
	defaultListLimit = 1000
	maxListLimit     = 1000
	// maxUnreadCount caps the messages counted as unread per conversation.
	maxUnreadCount = 1000
	// fetchTimeout bounds sending one blob.
	fetchTimeout = 5 * time.Minute
)

// handleListConversations lists my conversations with their unread counts
// and last sequences.
func (ss *session) handleListConversations(ctx context.Context, me string) (*pb.Response, error) {
	convs, err := ss.s.meta.Conversations(ctx, me)
	if err != nil {
		return nil, unavailable("list conversations", err)
	}
	list := &pb.ConversationList{}
	for _, id := range convs {
		c, err := ss.conversation(ctx, me, id)
		if err != nil {
			return nil, err
		}
		list.Conversations = append(list.Conversations, c)
	}
	return &pb.Response{Body: &pb.Response_Conversations{Conversations: list}}, nil
}

func (ss *session) conversation(ctx context.Context, me, id string) (*pb.Conversation, error) {
	cursor, err := ss.s.meta.Cursor(ctx, me, id)
	if err != nil {
		return nil, unavailable("read delivery cursor", err)
	}
	last, err := ss.s.meta.LastSeq(ctx, id)
	if err != nil {
		return nil, unavailable("read conversation", err)
	}
	c := &pb.Conversation{Id: id, Display: proto.DisplayConversation(id, me), LastSeq: last}
	if last > cursor {
		unread, _, err := ss.s.meta.Messages(ctx, meta.Query{Conversation: id, AfterSeq: cursor, Limit: maxUnreadCount})
		if err != nil {
			return nil, unavailable("count unread messages", err)
		}
		if c.Unread, err = ss.countUnread(ctx, me, unread); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// countUnread counts the messages among msgs that me has not played:
// those from other senders without a listen receipt of me. A user's own
// messages are never unread.
func (ss *session) countUnread(ctx context.Context, me string, msgs []*pb.MessageInfo) (uint64, error) {
	var n uint64
	for _, m := range msgs {
		if m.GetSender() == me {
			continue
		}
		r, err := ss.s.meta.Receipts(ctx, m.GetMessageId())
		if err != nil {
			return 0, unavailable("count unread messages", err)
		}
		if _, played := r[me]; !played {
			n++
		}
	}
	return n, nil
}

// handleListMessages lists messages of one conversation, or of all of
// mine, in sequence order per conversation.
func (ss *session) handleListMessages(ctx context.Context, me string, r *pb.ListMessages) (*pb.Response, error) {
	limit := int(r.Limit)
	if limit == 0 || limit > maxListLimit {
		limit = defaultListLimit
	}
	convs, err := ss.listTargets(ctx, me, r.Conversation)
	if err != nil {
		return nil, err
	}
	list := &pb.MessageList{}
	for _, conv := range convs {
		q, err := ss.query(ctx, me, conv, r)
		if err != nil {
			return nil, err
		}
		q.Limit = limit - len(list.Messages)
		msgs, more, err := ss.s.meta.Messages(ctx, q)
		if err != nil {
			return nil, unavailable("list messages", err)
		}
		list.Messages = append(list.Messages, msgs...)
		if more || len(list.Messages) == limit {
			list.Truncated = more || len(convs) > 1
			break
		}
	}
	if err := ss.addReceipts(ctx, me, list.Messages); err != nil {
		return nil, err
	}
	resp := &pb.Response{Body: &pb.Response_Messages{Messages: list}}
	fitListing(resp, list)
	return resp, nil
}

// fitListing drops messages from the end of list, the body of resp, until
// resp fits in one control message, and marks list truncated when it drops
// any, so the client lists again for the rest. Around 110 bytes a message,
// plus one entry per listen receipt, a full listing of maxListLimit
// messages does not fit in proto.MaxControlSize.
func fitListing(resp *pb.Response, list *pb.MessageList) {
	for len(list.Messages) > 1 {
		size := gproto.Size(resp)
		if size <= proto.MaxControlSize {
			return
		}
		// Keep the share of messages that fits at the average size, and
		// at least one fewer than now.
		keep := min(len(list.Messages)*proto.MaxControlSize/size, len(list.Messages)-1)
		list.Messages = list.Messages[:max(keep, 1)]
		list.Truncated = true
	}
}

// listTargets returns the conversation a listing covers after an access
// check, or all of mine.
func (ss *session) listTargets(ctx context.Context, me, conv string) ([]string, error) {
	if conv != "" {
		if err := ss.checkAccess(ctx, me, conv); err != nil {
			return nil, err
		}
		return []string{conv}, nil
	}
	convs, err := ss.s.meta.Conversations(ctx, me)
	if err != nil {
		return nil, unavailable("list conversations", err)
	}
	return convs, nil
}

// query builds the store query of a listing request: after my cursor,
// unless the request sets all or a start time.
func (ss *session) query(ctx context.Context, me, conv string, r *pb.ListMessages) (meta.Query, error) {
	q := meta.Query{Conversation: conv}
	switch {
	case r.SinceUnixMs > 0:
		q.Since = time.UnixMilli(r.SinceUnixMs)
	case r.All:
	default:
		cursor, err := ss.s.meta.Cursor(ctx, me, conv)
		if err != nil {
			return q, unavailable("read delivery cursor", err)
		}
		q.AfterSeq = cursor
	}
	return q, nil
}

// handleAck moves my delivery cursor in a conversation forward to the
// sequence of one of its messages.
func (ss *session) handleAck(ctx context.Context, me string, r *pb.AckDelivery) (*pb.Response, error) {
	if err := ss.checkAccess(ctx, me, r.Conversation); err != nil {
		return nil, err
	}
	if _, err := ss.s.meta.MessageAt(ctx, r.Conversation, r.Seq); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return nil, errorf(pb.ErrorCode_ERROR_CODE_NOT_FOUND,
				"no message with sequence %d in %s: acknowledge a sequence from a message list", r.Seq, r.Conversation)
		}
		return nil, unavailable("read message", err)
	}
	if _, err := ss.s.meta.AdvanceCursor(ctx, me, r.Conversation, r.Seq); err != nil {
		return nil, unavailable("advance delivery cursor", err)
	}
	return &pb.Response{Body: &pb.Response_Empty{Empty: &pb.Empty{}}}, nil
}

// handleFetch sends a message's blob: a BlobHeader response, then the
// blob's bytes, then the end of the stream.
func (ss *session) handleFetch(ctx context.Context, str *quic.Stream, r *pb.FetchMessage) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	info, body, size, err := ss.openMessage(ctx, r)
	if err != nil {
		ss.reply(str, nil, err)
		return
	}
	defer body.Close()
	str.SetWriteDeadline(time.Now().Add(fetchTimeout))
	hdr := &pb.Response{Body: &pb.Response_Blob{Blob: &pb.BlobHeader{Info: info, Size: uint64(size)}}}
	if err := proto.WriteMessage(str, hdr); err != nil {
		str.CancelWrite(codeStreamRejected)
		return
	}
	n, err := io.CopyN(str, body, size)
	if err != nil {
		ss.logger().Warn("send blob", "conv", info.Conversation, "msg_id", info.MessageId, "bytes", n, "err", err)
		str.CancelWrite(codeStreamRejected)
		return
	}
	str.Close()
}

// openMessage checks access to a message and opens its blob.
func (ss *session) openMessage(ctx context.Context, r *pb.FetchMessage) (*pb.MessageInfo, io.ReadCloser, int64, error) {
	me, err := ss.registered()
	if err != nil {
		return nil, nil, 0, err
	}
	if err := ss.checkAccess(ctx, me, r.Conversation); err != nil {
		return nil, nil, 0, err
	}
	id, err := ulid.ParseStrict(r.MessageId)
	if err != nil {
		return nil, nil, 0, badRequest("invalid message id %q: want a 26-character ULID", r.MessageId)
	}
	info, err := ss.s.meta.FindMessage(ctx, r.Conversation, id.String())
	if errors.Is(err, meta.ErrNotFound) {
		return nil, nil, 0, errorf(pb.ErrorCode_ERROR_CODE_NOT_FOUND, "message %s not found in %s", r.MessageId, r.Conversation)
	}
	if err != nil {
		return nil, nil, 0, unavailable("read message", err)
	}
	body, size, err := ss.openBlob(ctx, info)
	if err != nil {
		return nil, nil, 0, err
	}
	return info, body, size, nil
}

// openBlob opens the blob of a message and checks its size. A missing
// or damaged blob fails as NOT_FOUND, which the client does not retry,
// and is logged at error level because the relay's store lost audio.
func (ss *session) openBlob(ctx context.Context, info *pb.MessageInfo) (io.ReadCloser, int64, error) {
	body, size, err := ss.s.blobs.Open(ctx, info.BlobKey)
	if errors.Is(err, blob.ErrNotFound) {
		e := errorf(pb.ErrorCode_ERROR_CODE_NOT_FOUND, "audio of message %s is missing on the relay; ask the operator", info.MessageId)
		e.cause, e.fault = err, true
		e.attrs = []any{"msg_id", info.MessageId, "conv", info.Conversation, "key", info.BlobKey}
		return nil, 0, e
	}
	if err != nil {
		return nil, 0, unavailable("open message audio", err)
	}

	// Bytes is the blob's size at upload, so any other size means the
	// blob was truncated or replaced, and the client could not decode it.
	if info.Bytes != 0 && uint64(size) != info.Bytes {
		body.Close()
		e := errorf(pb.ErrorCode_ERROR_CODE_NOT_FOUND, "audio of message %s is damaged on the relay (%d of %d bytes); ask the operator",
			info.MessageId, size, info.Bytes)
		e.fault = true
		e.attrs = []any{"msg_id", info.MessageId, "conv", info.Conversation, "key", info.BlobKey, "want", info.Bytes, "got", size}
		return nil, 0, e
	}
	return body, size, nil
}
