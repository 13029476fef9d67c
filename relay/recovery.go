package relay

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/vm-voice/vm/proto/pb"
	"github.com/vm-voice/vm/relay/blob"
	"github.com/vm-voice/vm/relay/meta"
)

// Recovery settings.
const (
	// DefaultOrphanGrace is how old a blob without metadata must be
	// before the recovery sweep deletes it. A blob's modification time is
	// that of its commit, and an upload publishes its metadata right after
	// the commit, so an upload in flight on any relay sharing the store
	// is seconds, not minutes, past this point.
	DefaultOrphanGrace = 10 * time.Minute
	// sweepInterval is the time between recovery sweeps after the one at
	// start.
	sweepInterval = time.Hour
	// maintenanceTimeout bounds one sweep or one retention pass.
	maintenanceTimeout = 30 * time.Minute
	// scanBatch is how many messages one metadata read returns.
	scanBatch = 512
)

// sweepStats counts what one recovery sweep found.
type sweepStats struct {
	blobs    int // objects listed in the blob store
	foreign  int // objects whose keys the relay does not make
	orphans  int // blobs without metadata, deleted
	messages int // messages listed in the metadata
	missing  int // messages whose blob is missing
	dropped  int // messages deleted because their blob is missing
}

// sweep brings blob store and metadata into agreement after a crash or
// a fault. It deletes blobs older than grace that no message lists: a
// relay that crashed, or lost its metadata store, between committing a
// blob and publishing its metadata leaves those. It then deletes the
// metadata of messages whose blob is missing, which relay code never
// causes because a blob is committed before its metadata is published
// and deleted after it, but an operator or a bucket lifecycle rule can.
//
// Deleting such metadata, rather than hiding the message, keeps every
// listing consistent on every relay without extra state, and the audio
// is lost either way. As a guard against a store that is misconfigured
// (a wrong bucket or prefix shows as every blob missing), sweep deletes
// nothing when the blobs of most messages are missing, and logs an error
// for the operator instead.
func (s *Server) sweep(ctx context.Context, grace time.Duration) (sweepStats, error) {
	var st sweepStats
	keys := make(map[string]struct{})
	cutoff := s.now().Add(-grace)
	err := s.blobs.List(ctx, func(o blob.Object) error {
		st.blobs++
		keys[o.Key] = struct{}{}
		if o.ModTime.After(cutoff) {
			return nil
		}
		return s.sweepBlob(ctx, o, &st)
	})
	if err != nil {
		return st, err
	}
	missing, err := s.findMissing(ctx, keys, &st)
	if err != nil {
		return st, err
	}
	return st, s.dropMissing(ctx, missing, &st)
}

// sweepBlob deletes o when no message lists it.
func (s *Server) sweepBlob(ctx context.Context, o blob.Object, st *sweepStats) error {
	id, _, conv, ok := parseBlobKey(o.Key)
	if !ok {
		st.foreign++
		return nil
	}
	m, err := s.meta.FindMessage(ctx, conv, id)
	if err == nil && m.BlobKey == o.Key {
		return nil
	}
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	err = s.blobs.Delete(ctx, o.Key)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		return err
	}
	st.orphans++
	s.log.Warn("orphan blob deleted", "msg_id", id, "conv", conv, "key", o.Key, "bytes", o.Size, "modified", o.ModTime)
	return nil
}

// findMissing returns the messages whose blob is neither in keys, the
// blobs listed before, nor in the store now. The second look covers
// blobs committed after the listing passed their key.
func (s *Server) findMissing(ctx context.Context, keys map[string]struct{}, st *sweepStats) ([]*pb.MessageInfo, error) {
	var missing []*pb.MessageInfo
	var after uint64
	for {
		msgs, err := s.meta.ScanMessages(ctx, after, scanBatch)
		if err != nil || len(msgs) == 0 {
			return missing, err
		}
		for _, m := range msgs {
			st.messages++
			if _, ok := keys[m.BlobKey]; ok {
				continue
			}
			exists, err := s.blobExists(ctx, m.BlobKey)
			if err != nil {
				return nil, err
			}
			if !exists {
				missing = append(missing, m)
			}
		}
		after = msgs[len(msgs)-1].Seq
	}
}

func (s *Server) blobExists(ctx context.Context, key string) (bool, error) {
	r, _, err := s.blobs.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.Close()
	return true, nil
}

// dropMissing deletes the metadata of messages whose blob is missing,
// unless they are most of the messages.
func (s *Server) dropMissing(ctx context.Context, missing []*pb.MessageInfo, st *sweepStats) error {
	st.missing = len(missing)
	if len(missing) == 0 {
		return nil
	}
	if 2*len(missing) > st.messages {
		s.log.Error("blob store lacks the audio of most messages; keeping their metadata: check the store settings (bucket, prefix, data directory)",
			"missing", len(missing), "messages", st.messages)
		return nil
	}
	for _, m := range missing {
		err := s.meta.DeleteMessage(ctx, m.Seq)
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		st.dropped++
		s.log.Error("message audio missing, message deleted", "msg_id", m.MessageId, "conv", m.Conversation, "key", m.BlobKey)
	}
	return nil
}

// parseBlobKey splits a key that blobKey made into its parts. A handle
// has no dots and a message id is a ULID, so the first two dots of the
// file name end id and sender, and the conversation, which has dots,
// fills the rest.
func parseBlobKey(key string) (id, sender, conv string, ok bool) {
	_, name, found := strings.Cut(key, "/")
	if !found {
		return "", "", "", false
	}
	name, found = strings.CutSuffix(name, ".ogg")
	if !found {
		return "", "", "", false
	}
	parts := strings.SplitN(name, ".", 3)
	if len(parts) != 3 || len(parts[0]) < 6 {
		return "", "", "", false
	}
	id, sender, conv = parts[0], parts[1], parts[2]
	return id, sender, conv, blobKey(id, sender, conv) == key
}

// runSweep runs one recovery sweep under maintenanceTimeout and logs
// its outcome.
func (s *Server) runSweep(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, maintenanceTimeout)
	defer cancel()
	start := time.Now()
	st, err := s.sweep(ctx, s.cfg.OrphanGrace)
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.log.Warn("recovery sweep failed", "err", err, "dur", time.Since(start))
		}
		return
	}
	s.log.Info("recovery sweep done", "blobs", st.blobs, "messages", st.messages,
		"orphans_deleted", st.orphans, "missing", st.missing, "messages_deleted", st.dropped,
		"foreign", st.foreign, "dur", time.Since(start))
}
