package meta

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// Cursor reads the cursor key.
func (s *JetStreamStore) Cursor(ctx context.Context, handle, conv string) (uint64, error) {
	seq, _, err := s.cursor(ctx, handle+"."+conv)
	return seq, err
}

func (s *JetStreamStore) cursor(ctx context.Context, key string) (seq, rev uint64, err error) {
	e, err := s.cursors.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("get cursor %s: %w", key, err)
	}
	seq, err = strconv.ParseUint(string(e.Value()), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("cursor %s: %w", key, err)
	}
	return seq, e.Revision(), nil
}

// AdvanceCursor writes the cursor with compare-and-set, so concurrent
// acknowledgements never move it back.
func (s *JetStreamStore) AdvanceCursor(ctx context.Context, handle, conv string, seq uint64) (uint64, error) {
	key := handle + "." + conv
	for range casAttempts {
		cur, rev, err := s.cursor(ctx, key)
		if err != nil {
			return 0, err
		}
		if cur >= seq {
			return cur, nil
		}
		val := []byte(strconv.FormatUint(seq, 10))
		if rev == 0 {
			_, err = s.cursors.Create(ctx, key, val)
		} else {
			_, err = s.cursors.Update(ctx, key, val, rev)
		}
		if err == nil {
			return seq, nil
		}
		if !isConflict(err) {
			return 0, fmt.Errorf("advance cursor %s: %w", key, err)
		}
	}
	return 0, fmt.Errorf("advance cursor %s: lost %d races in a row", key, casAttempts)
}
