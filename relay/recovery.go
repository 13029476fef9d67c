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
	damaged  int // messages whose blob size differs from the metadata
}

// sweep brings blob store and metadata into agreement after a crash or
// a fault. It deletes blobs older than grace that no message lists: a
// relay that crashed, or lost its metadata store, between committing a
// blob and publishing its metadata leaves those. It lists and deletes
// only blobs under the store id, because relays with other metadata may
// share the bucket, and their blobs are unknown to this metadata. It
// then deletes the metadata of messages whose blob is missing, which
// relay code never causes because a blob is committed before its
// metadata is published and deleted after it, but an operator or a
// bucket lifecycle rule can. It also logs messages whose blob size
// differs from the size in their metadata.
//
// Deleting such metadata, rather than hiding the message, keeps every
// listing consistent on every relay without extra state, and the audio
// is lost either way. As a guard against a store that is misconfigured
// (a wrong bucket or prefix shows as every blob missing), sweep deletes
// nothing when the blobs of most messages are missing, and logs an error
// for the operator instead.
func (s *Server) sweep(ctx context.Context, grace time.Duration) (sweepStats, error) {
	var st sweepStats
	sizes := make(map[string]int64)
	cutoff := s.now().Add(-grace)
	// NOTE: orphans without a store id, left by relays before it, and
	// blobs under the id of a metadata store that was lost are never
	// deleted here. Only the operator can tell whose they are.
	err := s.blobs.List(ctx, s.storeID+"/", func(o blob.Object) error {
		st.blobs++
		sizes[o.Key] = o.Size
		if o.ModTime.After(cutoff) {
			return nil
		}
		return s.sweepBlob(ctx, o, &st)
	})
	if err != nil {
		return st, err
	}
	missing, err := s.findMissing(ctx, sizes, &st)
	if err != nil {
		return st, err
	}
	return st, s.dropMissing(ctx, missing, &st)
}

// sweepBlob deletes o when no message lists it.
func (s *Server) sweepBlob(ctx context.Context, o blob.Object, st *sweepStats) error {
	storeID, id, _, conv, ok := parseBlobKey(o.Key)
	if !ok || storeID != s.storeID {
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

// findMissing returns the messages whose blob is neither in sizes, the
// blobs listed before, nor in the store now. The second look covers
// blobs committed after the listing passed their key, and blobs outside
// the store id, which relays before the store id made. It logs the
// messages whose blob has a size other than the one in their metadata.
func (s *Server) findMissing(ctx context.Context, sizes map[string]int64, st *sweepStats) ([]*pb.MessageInfo, error) {
	var missing []*pb.MessageInfo
	var after uint64
	for {
		msgs, err := s.meta.ScanMessages(ctx, after, scanBatch)
		if err != nil || len(msgs) == 0 {
			return missing, err
		}
		for _, m := range msgs {
			st.messages++
			size, ok := sizes[m.BlobKey]
			if !ok {
				var err error
				size, ok, err = s.blobSize(ctx, m.BlobKey)
				if err != nil {
					return nil, err
				}
			}
			if !ok {
				missing = append(missing, m)
				continue
			}
			s.checkBlobSize(m, size, st)
		}
		after = msgs[len(msgs)-1].Seq
	}
}

// blobSize returns the size of the blob under key, or false when there
// is none.
func (s *Server) blobSize(ctx context.Context, key string) (int64, bool, error) {
	r, size, err := s.blobs.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	r.Close()
	return size, true, nil
}

// checkBlobSize logs an error when a message's blob has a size other
// than the one its metadata recorded at upload. The sweep keeps such a
// blob and its metadata, because the operator may be able to repair the
// cause, such as a file system error or an object restored in part from
// a backup. Deleting them would turn damaged audio into lost audio. A
// fetch of the message returns an error that names the damage.
func (s *Server) checkBlobSize(m *pb.MessageInfo, size int64, st *sweepStats) {
	if m.Bytes == 0 || uint64(size) == m.Bytes {
		return
	}
	st.damaged++
	s.log.Error("message audio damaged: blob size differs from the metadata; restore the blob from a backup or delete the message",
		"msg_id", m.MessageId, "conv", m.Conversation, "key", m.BlobKey, "want", m.Bytes, "got", size)
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

// parseBlobKey splits a key that blobKey made into its parts; storeID
// is empty for a key without one. A handle has no dots and a message id
// is a ULID, so the first two dots of the file name end id and sender,
// and the conversation, which has dots, fills the rest.
func parseBlobKey(key string) (storeID, id, sender, conv string, ok bool) {
	dirs := strings.Split(key, "/")
	switch len(dirs) {
	case 2:
	case 3:
		storeID = dirs[0]
	default:
		return "", "", "", "", false
	}
	name, found := strings.CutSuffix(dirs[len(dirs)-1], ".ogg")
	if !found {
		return "", "", "", "", false
	}
	parts := strings.SplitN(name, ".", 3)
	if len(parts) != 3 || len(parts[0]) < 6 {
		return "", "", "", "", false
	}
	id, sender, conv = parts[0], parts[1], parts[2]
	return storeID, id, sender, conv, blobKey(storeID, id, sender, conv) == key
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
		"damaged", st.damaged, "foreign", st.foreign, "store_id", s.storeID, "dur", time.Since(start))
}
