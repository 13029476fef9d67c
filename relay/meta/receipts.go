package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Receipts maps the handle of each listener of one message to the time it
// first played the message.
type Receipts map[string]time.Time

// Receipts reads the receipts of message id. A message without listeners
// has an empty map and no error.
func (s *JetStreamStore) Receipts(ctx context.Context, id string) (Receipts, error) {
	r := Receipts{}
	if _, err := getJSON(ctx, s.receipts, id, &r); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("get receipts of %s: %w", id, err)
	}
	return r, nil
}

// MarkListened adds handle to the receipts of message id with
// compare-and-set. It keeps the time of the first mark, and first is
// false when handle was in the receipts already.
func (s *JetStreamStore) MarkListened(ctx context.Context, id, handle string, at time.Time) (bool, error) {
	for range casAttempts {
		r := Receipts{}
		rev, err := getJSON(ctx, s.receipts, id, &r)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return false, fmt.Errorf("get receipts of %s: %w", id, err)
		}
		if _, ok := r[handle]; ok {
			return false, nil
		}
		r[handle] = at.UTC()
		b, err := json.Marshal(r)
		if err != nil {
			return false, fmt.Errorf("encode receipts of %s: %w", id, err)
		}
		if rev == 0 {
			_, err = s.receipts.Create(ctx, id, b)
		} else {
			_, err = s.receipts.Update(ctx, id, b, rev)
		}
		if err == nil {
			return true, nil
		}
		if !isConflict(err) {
			return false, fmt.Errorf("store receipts of %s: %w", id, err)
		}
	}
	return false, fmt.Errorf("store receipts of %s: lost %d races in a row", id, casAttempts)
}
