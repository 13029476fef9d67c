package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vm-voice/vm/proto"
)

// Bucket and stream names in JetStream.
const (
	bucketUsers       = "users"
	bucketKeys        = "keys"
	bucketChannels    = "channels"
	bucketMemberships = "memberships"
	bucketCursors     = "cursors"
	bucketReceipts    = "receipts"
	streamMessages    = "MESSAGES"
	// duplicateWindow is how long JetStream remembers a message id, so a
	// retry racing the first upload is stored once.
	duplicateWindow = 10 * time.Minute
	// maxRecordSize limits every JSON record this package decodes.
	maxRecordSize = 64 << 10
	// casAttempts bounds the retries of a compare-and-set update that
	// lost a race.
	casAttempts = 20
)

// JetStreamStore is a Store on NATS JetStream.
type JetStreamStore struct {
	js          jetstream.JetStream
	users       jetstream.KeyValue
	keys        jetstream.KeyValue
	channels    jetstream.KeyValue
	memberships jetstream.KeyValue
	cursors     jetstream.KeyValue
	receipts    jetstream.KeyValue
	messages    jetstream.Stream

	// userCache maps handle to User. A registered user never changes, so
	// entries never go stale.
	userCache sync.Map
	// memberCache contains "<handle>.<conversation>" keys known to be in
	// the memberships bucket, so hot paths skip a write.
	memberCache sync.Map
}

// OpenJetStream creates or updates the buckets and the stream the store
// uses, and returns the store.
func OpenJetStream(ctx context.Context, nc *nats.Conn) (*JetStreamStore, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open jetstream: %w", err)
	}
	s := &JetStreamStore{js: js}
	buckets := []struct {
		name string
		kv   *jetstream.KeyValue
	}{
		{bucketUsers, &s.users},
		{bucketKeys, &s.keys},
		{bucketChannels, &s.channels},
		{bucketMemberships, &s.memberships},
		{bucketCursors, &s.cursors},
		{bucketReceipts, &s.receipts},
	}
	for _, b := range buckets {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:       b.name,
			Storage:      jetstream.FileStorage,
			MaxValueSize: maxRecordSize,
		})
		if err != nil {
			return nil, fmt.Errorf("open bucket %s: %w", b.name, err)
		}
		*b.kv = kv
	}
	s.messages, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        streamMessages,
		Subjects:    []string{"msg.>"},
		Storage:     jetstream.FileStorage,
		Duplicates:  duplicateWindow,
		AllowDirect: true,
		MaxMsgSize:  proto.MaxControlSize,
	})
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", streamMessages, err)
	}
	return s, nil
}

// Check reads the message stream's state.
func (s *JetStreamStore) Check(ctx context.Context) error {
	if _, err := s.messages.Info(ctx); err != nil {
		return fmt.Errorf("check jetstream: %w", err)
	}
	return nil
}

// getJSON reads key from kv into v and returns its revision.
func getJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	if err := decodeRecord(e.Value(), v); err != nil {
		return 0, fmt.Errorf("record %s/%s: %w", kv.Bucket(), key, err)
	}
	return e.Revision(), nil
}

// decodeRecord decodes a JSON record, rejecting records above
// maxRecordSize.
func decodeRecord(b []byte, v any) error {
	if len(b) > maxRecordSize {
		return fmt.Errorf("record of %d bytes above limit %d", len(b), maxRecordSize)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	return nil
}

// isConflict reports whether err means a key-value create or update lost
// to another writer.
func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// Compile-time check that JetStreamStore implements Store.
var _ Store = (*JetStreamStore)(nil)
