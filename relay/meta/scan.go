package meta

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vm-voice/vm/proto/pb"
)

// allMessages matches the subject of every message.
const allMessages = "msg.>"

// ScanMessages reads messages with one direct get each, as Messages does,
// but over all conversations. Recovery and retention scan the whole stream
// with it at one request per message, so a stream of millions of messages
// would want an ordered consumer instead.
func (s *JetStreamStore) ScanMessages(ctx context.Context, afterSeq uint64, limit int) ([]*pb.MessageInfo, error) {
	var msgs []*pb.MessageInfo
	next := afterSeq + 1
	for len(msgs) < limit {
		raw, err := s.messages.GetMsg(ctx, next, jetstream.WithGetMsgSubject(allMessages))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return msgs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("scan messages after %d: %w", next-1, err)
		}
		m, err := decodeMessage(raw)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
		next = raw.Sequence + 1
	}
	return msgs, nil
}

// DeleteMessage marks the message deleted in the stream and fsyncs that,
// as every write of the embedded server is. The Nats-Msg-Id of a deleted
// message stays in the duplicate window, so a retry of its upload within
// 10 minutes of the first fails with an error instead of storing it again.
func (s *JetStreamStore) DeleteMessage(ctx context.Context, seq uint64) error {
	err := s.messages.DeleteMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
		if _, gerr := s.messages.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("delete message at %d: %w", seq, err)
	}
	return nil
}
