package relay

import (
	"context"
	"errors"
	"time"

	"github.com/vm-voice/vm/proto/pb"
	"github.com/vm-voice/vm/relay/blob"
	"github.com/vm-voice/vm/relay/meta"
)

// retentionInterval is the time between retention passes after the one
// at start.
const retentionInterval = 10 * time.Minute

// retentionStats counts what one retention pass deleted.
type retentionStats struct {
	messages  int   // messages scanned
	expired   int   // deleted for their age
	overQuota int   // deleted to bring a sender under the quota
	bytes     int64 // blob bytes of the deleted messages
}

// storedMessage is the part of a message that retention keeps while it
// scans.
type storedMessage struct {
	seq   uint64
	id    string
	conv  string
	key   string
	bytes int64
}

// applyRetention deletes the messages older than RetentionMaxAge at now
// and then, for every sender whose messages take more than
// RetentionUserQuota bytes, that sender's oldest messages until the rest
// fit. A zero setting turns its rule off.
//
// Usage per sender comes from a scan of all messages on each pass, not
// from a counter kept on upload. JetStream cannot update a counter in a
// bucket in the same step as the message in the stream, so a crash would
// make such a counter drift. The scan keeps a few dozen bytes per message
// in memory.
func (s *Server) applyRetention(ctx context.Context, now time.Time) (retentionStats, error) {
	var st retentionStats
	maxAge, quota := s.cfg.RetentionMaxAge, s.cfg.RetentionUserQuota
	if maxAge <= 0 && quota <= 0 {
		return st, nil
	}
	bySender := make(map[string][]storedMessage)
	usage := make(map[string]int64)
	var after uint64
	for {
		msgs, err := s.meta.ScanMessages(ctx, after, scanBatch)
		if err != nil {
			return st, err
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			st.messages++
			if maxAge > 0 && now.Sub(time.UnixMilli(m.CreatedUnixMs)) > maxAge {
				if err := s.deleteStored(ctx, toStored(m), "max_age"); err != nil {
					return st, err
				}
				st.expired++
				st.bytes += int64(m.Bytes)
				continue
			}
			bySender[m.Sender] = append(bySender[m.Sender], toStored(m))
			usage[m.Sender] += int64(m.Bytes)
		}
		after = msgs[len(msgs)-1].Seq
	}
	if quota <= 0 {
		return st, nil
	}
	for sender, msgs := range bySender {
		if err := s.enforceQuota(ctx, msgs, usage[sender], quota, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// enforceQuota deletes the oldest of one sender's messages, given in
// stream order, until their bytes total at most quota.
func (s *Server) enforceQuota(ctx context.Context, msgs []storedMessage, used, quota int64, st *retentionStats) error {
	for i := 0; used > quota && i < len(msgs); i++ {
		if err := s.deleteStored(ctx, msgs[i], "user_quota"); err != nil {
			return err
		}
		used -= msgs[i].bytes
		st.overQuota++
		st.bytes += msgs[i].bytes
	}
	return nil
}

func toStored(m *pb.MessageInfo) storedMessage {
	return storedMessage{seq: m.Seq, id: m.MessageId, conv: m.Conversation, key: m.BlobKey, bytes: int64(m.Bytes)}
}

// deleteStored deletes a message's metadata and then its blob. In this
// order a crash between the two steps leaves a blob that no message
// lists, which the recovery sweep deletes. The other order would leave a
// listed message whose audio cannot be fetched. A blob that cannot be
// deleted now is left to the sweep as well.
func (s *Server) deleteStored(ctx context.Context, m storedMessage, reason string) error {
	err := s.meta.DeleteMessage(ctx, m.seq)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Info("message deleted", "reason", reason, "msg_id", m.id, "conv", m.conv, "bytes", m.bytes)
	err = s.blobs.Delete(ctx, m.key)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		s.log.Warn("delete blob of deleted message; the recovery sweep retries", "msg_id", m.id, "conv", m.conv, "key", m.key, "err", err)
	}
	return nil
}

// runRetention runs one retention pass under maintenanceTimeout and logs
// what it deleted.
func (s *Server) runRetention(ctx context.Context) {
	if s.cfg.RetentionMaxAge <= 0 && s.cfg.RetentionUserQuota <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, maintenanceTimeout)
	defer cancel()
	start := time.Now()
	st, err := s.applyRetention(ctx, s.now())
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.log.Warn("retention pass failed", "err", err, "dur", time.Since(start))
		}
		return
	}
	s.log.Info("retention pass done", "messages", st.messages, "expired", st.expired,
		"over_quota", st.overQuota, "bytes", st.bytes, "dur", time.Since(start))
}

// maintain runs the recovery sweep and the retention pass until ctx is
// done. It always returns nil.
func (s *Server) maintain(ctx context.Context) error {
	runMaintenance(ctx, s.runSweep, s.runRetention)
	return nil
}

// runMaintenance calls sweep and retain right away, then every
// sweepInterval and retentionInterval, one at a time, until ctx is done.
func runMaintenance(ctx context.Context, sweep, retain func(context.Context)) {
	sweep(ctx)
	retain(ctx)
	sweepTicker := time.NewTicker(sweepInterval)
	defer sweepTicker.Stop()
	retainTicker := time.NewTicker(retentionInterval)
	defer retainTicker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweepTicker.C:
			sweep(ctx)
		case <-retainTicker.C:
			retain(ctx)
		}
	}
}
