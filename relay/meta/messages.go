package meta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vm-voice/vm/proto/pb"
	gproto "google.golang.org/protobuf/proto"
)

func messageSubject(conv, id string) string {
	return "msg." + conv + "." + id
}

// conversationFilter matches the subjects of all messages in conv.
func conversationFilter(conv string) string {
	return "msg." + conv + ".*"
}

// FindMessage reads the last message on the message's own subject.
func (s *JetStreamStore) FindMessage(ctx context.Context, conv, id string) (*pb.MessageInfo, error) {
	raw, err := s.messages.GetLastMsgForSubject(ctx, messageSubject(conv, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find message %s in %s: %w", id, conv, err)
	}
	return decodeMessage(raw)
}

// PutMessage publishes m with its id as Nats-Msg-Id. When JetStream calls
// it a duplicate, it looks the stored message up by its stream sequence.
func (s *JetStreamStore) PutMessage(ctx context.Context, m *pb.MessageInfo) (*pb.MessageInfo, bool, error) {
	m = gproto.Clone(m).(*pb.MessageInfo)
	m.Seq = 0
	b, err := gproto.Marshal(m)
	if err != nil {
		return nil, false, fmt.Errorf("encode message %s: %w", m.MessageId, err)
	}
	ack, err := s.js.Publish(ctx, messageSubject(m.Conversation, m.MessageId), b,
		jetstream.WithMsgID(m.MessageId), jetstream.WithExpectStream(streamMessages))
	if err != nil {
		return nil, false, fmt.Errorf("publish message %s: %w", m.MessageId, err)
	}
	if ack.Duplicate {
		stored, err := s.messageBySeq(ctx, ack.Sequence)
		if err != nil {
			return nil, false, fmt.Errorf("read duplicate of message %s: %w", m.MessageId, err)
		}
		return stored, true, nil
	}
	m.Seq = ack.Sequence
	return m, false, nil
}

// MessageAt reads the message at seq and checks its conversation.
func (s *JetStreamStore) MessageAt(ctx context.Context, conv string, seq uint64) (*pb.MessageInfo, error) {
	m, err := s.messageBySeq(ctx, seq)
	if err != nil {
		return nil, err
	}
	if m.Conversation != conv {
		return nil, ErrNotFound
	}
	return m, nil
}

func (s *JetStreamStore) messageBySeq(ctx context.Context, seq uint64) (*pb.MessageInfo, error) {
	raw, err := s.messages.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get message at %d: %w", seq, err)
	}
	return decodeMessage(raw)
}

// Messages walks the conversation's subjects with direct gets, each
// returning the first matching message at or after a sequence.
func (s *JetStreamStore) Messages(ctx context.Context, q Query) ([]*pb.MessageInfo, bool, error) {
	next := q.AfterSeq + 1
	if !q.Since.IsZero() {
		start, err := s.firstSeqSince(ctx, q.Since)
		if err != nil {
			return nil, false, err
		}
		next = max(next, start)
	}
	var msgs []*pb.MessageInfo
	for {
		raw, err := s.messages.GetMsg(ctx, next, jetstream.WithGetMsgSubject(conversationFilter(q.Conversation)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return msgs, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("list messages of %s: %w", q.Conversation, err)
		}
		if len(msgs) == q.Limit {
			return msgs, true, nil
		}
		m, err := decodeMessage(raw)
		if err != nil {
			return nil, false, err
		}
		msgs = append(msgs, m)
		next = raw.Sequence + 1
	}
}

// firstSeqSince returns the sequence of the first message stored at or
// after t, by binary search over the stream's sequences.
//
// NOTE: it assumes store times grow with the sequence, which holds unless
// the system clock steps back while messages arrive.
func (s *JetStreamStore) firstSeqSince(ctx context.Context, t time.Time) (uint64, error) {
	info, err := s.messages.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("read message stream state: %w", err)
	}
	lo, hi := info.State.FirstSeq, info.State.LastSeq+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		raw, err := s.messages.GetMsg(ctx, mid, jetstream.WithGetMsgSubject("msg.>"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			hi = mid
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("search messages by time: %w", err)
		}
		if raw.Time.Before(t) {
			lo = raw.Sequence + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// LastSeq reads the last message on the conversation's subjects.
func (s *JetStreamStore) LastSeq(ctx context.Context, conv string) (uint64, error) {
	raw, err := s.messages.GetLastMsgForSubject(ctx, conversationFilter(conv))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last message of %s: %w", conv, err)
	}
	return raw.Sequence, nil
}

// decodeMessage decodes a stored MessageInfo and sets its sequence.
func decodeMessage(raw *jetstream.RawStreamMsg) (*pb.MessageInfo, error) {
	var m pb.MessageInfo
	if err := gproto.Unmarshal(raw.Data, &m); err != nil {
		return nil, fmt.Errorf("decode message at %d: %w", raw.Sequence, err)
	}
	if !strings.HasSuffix(raw.Subject, "."+m.MessageId) {
		return nil, fmt.Errorf("message at %d: id %q does not match subject %s", raw.Sequence, m.MessageId, raw.Subject)
	}
	m.Seq = raw.Sequence
	return &m, nil
}
