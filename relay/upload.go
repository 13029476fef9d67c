package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/audio/oggopus"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
	"github.com/vm-voice/vm/relay/blob"
	"github.com/vm-voice/vm/relay/meta"
)

// drainTime bounds how long the relay reads and discards the records of
// an upload it rejected before reading them, so the client's writes
// complete and it reads the response.
const drainTime = 10 * time.Second

// handleUpload stores one message. It checks the request, resolves the
// recipient and replies to a retry of a stored message at once. Otherwise
// it checks the records while writing them into a blob, commits the blob,
// publishes the metadata, records direct-conversation memberships and
// replies. Nothing is stored when a step
// fails, and the reply comes only once blob and metadata are durable.
func (ss *session) handleUpload(ctx context.Context, sr *stallReader, r *bufio.Reader, up *pb.Upload) {
	str := sr.str
	ctx, cancel := context.WithTimeout(ctx, ss.s.cfg.MaxMessageDuration+requestTimeout)
	defer cancel()
	str.SetReadDeadline(time.Now().Add(ss.s.cfg.MaxMessageDuration + requestTimeout))
	me, h, conv, res, err := ss.prepareUpload(ctx, up)
	if err != nil || res != nil {
		ss.reply(str, res, err)
		ss.drainUpload(sr, r)
		return
	}
	t, err := ss.startLive(ctx, me, conv, h)
	if err != nil {
		ss.reply(str, nil, err)
		ss.drainUpload(sr, r)
		return
	}
	res, stored, err := ss.receive(ctx, r, me, conv, h, t)
	ss.announce(ctx, t, stored, res.GetUpload().GetDuplicate())
	ss.reply(str, res, withIDs(err, h.id, conv))
}

// announce sends the events of an upload that ended to the subscribed
// members: TalkEnd and MessageStored for a live upload t, MessageStored
// for a new message from a file. stored is nil when the upload failed.
func (ss *session) announce(ctx context.Context, t *transmission, stored *pb.MessageInfo, duplicate bool) {
	if t != nil {
		ss.finishLive(t, stored)
		return
	}
	if stored == nil || duplicate {
		return
	}
	members, err := ss.s.members(ctx, stored.Conversation)
	if err != nil {
		ss.logger().Warn("announce stored message", "conv", stored.Conversation, "msg_id", stored.MessageId, "err", err)
		return
	}
	ss.s.hub.messageStored(stored, members)
}

// prepareUpload checks the request and its recipient. It returns a
// response without error when the message is stored already.
func (ss *session) prepareUpload(ctx context.Context, up *pb.Upload) (me string, h uploadHeader, conv string, res *pb.Response, err error) {
	if me, err = ss.registered(); err != nil {
		return
	}
	if h, err = checkUpload(up, ss.s.now()); err != nil {
		return
	}
	if conv, err = ss.resolveRecipient(ctx, me, h.to); err != nil {
		return
	}
	stored, err := ss.s.meta.FindMessage(ctx, conv, h.id)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return me, h, conv, nil, nil
	case err != nil:
		return me, h, conv, nil, unavailable("look up message", err)
	}
	if res, err = ss.duplicate(me, conv, stored); err != nil {
		return me, h, conv, nil, err
	}
	// A retry may follow a failure after publishing, so the memberships
	// may be missing.
	if err := ss.addDirectMemberships(ctx, conv); err != nil {
		return me, h, conv, nil, unavailable("record conversation", err)
	}
	return me, h, conv, res, nil
}

// duplicate returns the response to an upload whose id is stored already: a retry by the
// same sender to the same conversation succeeds, anything else conflicts.
func (ss *session) duplicate(me, conv string, stored *pb.MessageInfo) (*pb.Response, error) {
	if stored.Sender != me || stored.Conversation != conv {
		return nil, errorf(pb.ErrorCode_ERROR_CODE_CONFLICT,
			"message id %s is used by another message: choose a new id", stored.MessageId)
	}
	ss.s.metrics.duplicates.Inc()
	ss.logger().Info("upload duplicate", "conv", conv, "msg_id", stored.MessageId)
	return uploadResponse(stored, true), nil
}

func uploadResponse(m *pb.MessageInfo, duplicate bool) *pb.Response {
	return &pb.Response{Body: &pb.Response_Upload{Upload: &pb.UploadResult{
		MessageId:    m.MessageId,
		Conversation: m.Conversation,
		Seq:          m.Seq,
		Duplicate:    duplicate,
		DurationMs:   m.DurationMs,
		Bytes:        m.Bytes,
	}}}
}

// resolveRecipient returns the conversation a message from me to r goes
// to, after checking that r exists and that I may send there.
func (ss *session) resolveRecipient(ctx context.Context, me string, r proto.Recipient) (string, error) {
	conv := proto.ConversationFor(me, r)
	if r.Channel {
		c, err := ss.s.meta.Channel(ctx, r.Name)
		if errors.Is(err, meta.ErrNotFound) {
			return "", errorf(pb.ErrorCode_ERROR_CODE_NOT_FOUND, "unknown recipient #%s: no such channel on this relay", r.Name)
		}
		if err != nil {
			return "", unavailable("look up channel", err)
		}
		if !c.HasMember(me) {
			return "", errorf(pb.ErrorCode_ERROR_CODE_FORBIDDEN, "you are not a member of #%s: join it with vm channel join %s", r.Name, r.Name)
		}
		return conv, nil
	}
	_, err := ss.s.meta.User(ctx, r.Name)
	if errors.Is(err, meta.ErrNotFound) {
		return "", errorf(pb.ErrorCode_ERROR_CODE_NOT_FOUND, "unknown recipient @%s: no such handle on this relay; check the spelling", r.Name)
	}
	if err != nil {
		return "", unavailable("look up recipient", err)
	}
	return conv, nil
}

// drainUpload reads and discards what the client still sends on a
// rejected upload stream, bounded in bytes and time.
func (ss *session) drainUpload(sr *stallReader, r *bufio.Reader) {
	limit := 2*ss.s.cfg.MaxMessageBytes + int64(ss.s.cfg.MaxMessageDuration/proto.FrameDuration)*32
	sr.end = time.Now().Add(drainTime)
	sr.str.SetReadDeadline(sr.end)
	io.CopyN(io.Discard, r, limit)
}

// blobKey names a message's blob under the metadata store's id, so
// relays with separate metadata that share a bucket never list or delete
// each other's blobs. The key holds sender and conversation as well as
// the message id, so uploads that reuse an id for another message can
// never overwrite each other's audio, whichever publishes first. An empty
// storeID gives the key without it, which relays before the store id
// made and which stays valid in stored metadata.
func blobKey(storeID, id, sender, conv string) string {
	key := id[:6] + "/" + id + "." + sender + "." + conv + ".ogg"
	if storeID == "" {
		return key
	}
	return storeID + "/" + key
}

// receive reads, checks and stores the records of an upload, then
// publishes its metadata. It passes each frame of a live upload to t.
// It returns the stored message's metadata, or nil when it stored none.
func (ss *session) receive(ctx context.Context, r *bufio.Reader, me, conv string, h uploadHeader, t *transmission) (*pb.Response, *pb.MessageInfo, error) {
	start := time.Now()
	key := blobKey(ss.s.storeID, h.id, me, conv)
	w, err := ss.s.blobs.Create(ctx, key)
	if err != nil {
		return nil, nil, unavailable("store message audio", err)
	}
	defer w.Abort()
	chk, size, err := ss.writeBlob(r, w, me, conv, h, t)
	if err != nil {
		return nil, nil, err
	}
	if err := w.Commit(ctx); err != nil {
		return nil, nil, unavailable("store message audio", err)
	}
	info := &pb.MessageInfo{
		MessageId:     h.id,
		Conversation:  conv,
		Sender:        me,
		CreatedUnixMs: h.created.UnixMilli(),
		DurationMs:    uint64(chk.samples * 1000 / proto.SampleRate),
		Bytes:         uint64(size),
		BlobKey:       key,
		Frames:        uint64(chk.frames),
	}
	res, stored, err := ss.publish(ctx, info)
	if err != nil {
		return nil, nil, err
	}
	ss.logger().Info("upload stored", "conv", conv, "msg_id", h.id, "bytes", size, "dur", time.Since(start))
	return res, stored, nil
}

// writeBlob streams the upload's frames into an Ogg Opus file on w and
// returns the checker's final state and the file's size.
func (ss *session) writeBlob(r *bufio.Reader, w io.Writer, me, conv string, h uploadHeader, t *transmission) (*frameChecker, int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 32<<10)
	ow, err := oggopus.NewWriter(bw, h.serial, oggopus.Head{Channels: 1, PreSkip: h.preSkip, InputRate: h.inputRate}, oggopus.Tags{
		Vendor: "vm relay " + Version,
		Comments: map[string]string{
			"SENDER":       me,
			"CONVERSATION": conv,
			"MESSAGE_ID":   h.id,
			"DATE":         h.created.Format(time.RFC3339),
		},
	})
	if err != nil {
		return nil, 0, fmt.Errorf("write Ogg Opus headers: %w", err)
	}
	chk := newFrameChecker(ss.s.cfg.MaxMessageDuration, ss.s.cfg.MaxMessageBytes, h.preSkip)
	var sink func(*proto.Frame)
	if t != nil {
		sink = func(f *proto.Frame) { t.addRecord(ss.s, f) }
	}
	if err := readRecords(r, chk, ow, sink); err != nil {
		return nil, 0, blobError(cw, err)
	}
	if t != nil {
		t.setSamples(uint64(chk.samples))
	}
	if err := ow.Close(chk.samples); err != nil {
		return nil, 0, blobError(cw, badRequest("invalid message length: %v", err))
	}
	if err := bw.Flush(); err != nil {
		return nil, 0, unavailable("store message audio", err)
	}
	return chk, cw.n, nil
}

// readRecords reads upload records up to and including the end record,
// checks each and writes each frame's packet to ow and, unless sink is
// nil, passes the frame to sink. It then checks that the client closed
// the stream.
func readRecords(r *bufio.Reader, chk *frameChecker, ow *oggopus.Writer, sink func(*proto.Frame)) error {
	for !chk.ended {
		rec, err := proto.ReadRecord(r)
		if err != nil {
			return recordError(err)
		}
		if err := chk.add(&rec); err != nil {
			return err
		}
		if rec.Kind == proto.RecordFrame {
			if err := ow.WritePacket(rec.Frame.Payload); err != nil {
				return badRequest("frame %d: %v", rec.Frame.Seq, err)
			}
			if sink != nil {
				sink(&rec.Frame)
			}
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		if err == nil {
			return badRequest("data after the end record: close the stream after it")
		}
		return recordError(err)
	}
	return nil
}

// recordError turns an error reading upload records into a protocol error.
func recordError(err error) error {
	var serr *quic.StreamError
	switch {
	case errors.Is(err, io.EOF):
		return badRequest("upload ended without an end record")
	case errors.Is(err, proto.ErrTooLarge):
		return errorf(pb.ErrorCode_ERROR_CODE_TOO_LARGE, "invalid upload record: %v", err)
	case errors.Is(err, proto.ErrMalformed), errors.Is(err, proto.ErrTruncated):
		return badRequest("invalid upload record: %v", err)
	case errors.As(err, &serr):
		return badRequest("upload canceled by the client (stream error %d)", serr.ErrorCode)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return badRequest("upload stalled or timed out: send records at least every %s and the whole message within its duration plus %s",
			uploadGap, requestTimeout)
	}
	return badRequest("read upload: %v", err)
}

// publish stores a message's metadata, whose blob is committed, and
// removes the blob again when the metadata cannot be stored. It returns
// the stored metadata, which is another upload's for a duplicate.
func (ss *session) publish(ctx context.Context, info *pb.MessageInfo) (*pb.Response, *pb.MessageInfo, error) {
	stored, dup, err := ss.s.meta.PutMessage(ctx, info)
	if err != nil {
		ss.removeOrphan(info)
		return nil, nil, unavailable("store message metadata", err)
	}
	if dup {
		if stored.BlobKey != info.BlobKey {
			ss.removeOrphan(info)
		}
		res, err := ss.duplicate(info.Sender, info.Conversation, stored)
		if err != nil {
			return nil, nil, err
		}
		return res, stored, nil
	}
	if err := ss.addDirectMemberships(ctx, info.Conversation); err != nil {
		return nil, nil, unavailable("record conversation", err)
	}
	ss.s.metrics.uploads.Inc()
	ss.s.metrics.uploadBytes.Add(float64(info.Bytes))
	return uploadResponse(stored, false), stored, nil
}

// removeOrphan deletes the blob of a message whose metadata was not
// stored, unless a concurrent retry of the same message stored metadata
// that points at the same blob.
func (ss *session) removeOrphan(info *pb.MessageInfo) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	m, err := ss.s.meta.FindMessage(ctx, info.Conversation, info.MessageId)
	if err == nil && m.BlobKey == info.BlobKey {
		return
	}
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		// The publish may have stored the message although it failed, so
		// the blob stays until the recovery sweep can look again.
		ss.logger().Warn("keep blob of unconfirmed message for the recovery sweep", "msg_id", info.MessageId, "conv", info.Conversation, "err", err)
		return
	}
	if err := ss.s.blobs.Delete(ctx, info.BlobKey); err != nil && !errors.Is(err, blob.ErrNotFound) {
		ss.logger().Error("remove orphan blob", "msg_id", info.MessageId, "err", err)
	}
}

// addDirectMemberships lists a direct conversation under both handles.
func (ss *session) addDirectMemberships(ctx context.Context, conv string) error {
	members, _, err := proto.ParseConversation(conv)
	if err != nil || members == nil {
		return err
	}
	for _, m := range members {
		if err := ss.s.meta.AddMembership(ctx, m, conv); err != nil {
			return err
		}
	}
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error // first write error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// uploadGap is the longest pause between two reads of an upload stream.
// A live upload carries a frame every 20 ms, so a pause this long means
// the sender is gone (killed, or its network is down), and ending the
// upload then clears its talking indicator for the listeners. It is a
// variable so that tests can shorten it.
var uploadGap = 5 * time.Second

// stallReader reads a request stream. Once gap is set, each read first
// moves the stream's read deadline to gap from now, but never past end,
// so an upload that stops sending fails after gap while one that keeps
// sending may take until end.
type stallReader struct {
	str *quic.Stream
	gap time.Duration
	end time.Time
}

func (r *stallReader) Read(p []byte) (int, error) {
	if r.gap > 0 {
		d := time.Now().Add(r.gap)
		if d.After(r.end) {
			d = r.end
		}
		r.str.SetReadDeadline(d)
	}
	return r.str.Read(p)
}
