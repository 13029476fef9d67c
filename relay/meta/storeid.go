package meta

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Key-value bucket and key of the store id.
const (
	bucketRelay = "relay"
	keyStoreID  = "store_id"
	// storeIDBytes is the number of random bytes in a store id, which is
	// their lowercase hex encoding.
	storeIDBytes = 8
)

// StoreID returns the random id of this metadata store, creating it on
// the first call against a new store. Every relay that shares the
// JetStream metadata gets the same id, because the id is created with a
// key-value Create. When relays start together on a new store, one
// Create wins and the others read the winner's id.
func (s *JetStreamStore) StoreID(ctx context.Context) (string, error) {
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:       bucketRelay,
		Storage:      jetstream.FileStorage,
		MaxValueSize: maxRecordSize,
	})
	if err != nil {
		return "", fmt.Errorf("open bucket %s: %w", bucketRelay, err)
	}
	b := make([]byte, storeIDBytes)
	rand.Read(b)
	id := hex.EncodeToString(b)
	_, err = kv.Create(ctx, keyStoreID, []byte(id))
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return "", fmt.Errorf("create %s/%s: %w", bucketRelay, keyStoreID, err)
	}
	e, err := kv.Get(ctx, keyStoreID)
	if err != nil {
		return "", fmt.Errorf("read %s/%s: %w", bucketRelay, keyStoreID, err)
	}
	id = string(e.Value())
	if !validStoreID(id) {
		return "", fmt.Errorf("invalid store id %q in %s/%s: want %d lowercase hex digits; restore the value or the metadata backup",
			id, bucketRelay, keyStoreID, 2*storeIDBytes)
	}
	return id, nil
}

// validStoreID reports whether id has the form StoreID creates.
func validStoreID(id string) bool {
	if len(id) != 2*storeIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
