package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/proto"
)

// OutboxDir is the directory under the home directory that contains
// messages waiting to be sent: HOME/outbox/ID.ogg, one Ogg Opus file per
// message. Files the relay rejected move to OutboxDir/failed.
const OutboxDir = "outbox"

// outboxConversationTag is the OpusTags key that stores the conversation
// id of an outbox entry, from which the recipient follows.
const outboxConversationTag = "VM_CONVERSATION"

// maxOutboxBytes bounds the size of an outbox file that the engine reads.
// It is far above any message that the relay's limits let through.
const maxOutboxBytes = 64 << 20

// outboxEntry is one message waiting to be sent.
type outboxEntry struct {
	id   string // message id, a ULID
	conv string // conversation id
	enc  *audio.Encoded
}

// outbox is a directory of messages waiting to be sent.
type outbox struct {
	dir string
}

// path returns the file of message id.
func (o outbox) path(id string) string {
	return filepath.Join(o.dir, id+".ogg")
}

// save writes the entry durably: into a temporary file that is synced and
// then renamed to ID.ogg, and the directory is synced after the rename.
// It returns the final path.
func (o outbox) save(m *outboxEntry) (string, error) {
	var buf bytes.Buffer
	if err := audio.WriteOggOpus(&buf, m.enc, map[string]string{outboxConversationTag: m.conv}, oggSerial(m.id)); err != nil {
		return "", fmt.Errorf("save message %s to the outbox: %w", m.id, err)
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return "", fmt.Errorf("save message %s to the outbox: %w", m.id, err)
	}
	path := o.path(m.id)
	if err := writeFileSynced(path, buf.Bytes()); err != nil {
		return "", fmt.Errorf("save message %s to the outbox: %w", m.id, err)
	}
	return path, nil
}

// writeFileSynced writes data to path through a synced temporary file and
// a rename, then syncs the directory, so a crash leaves either the whole
// file or none.
func writeFileSynced(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// load reads the entry of message id. It reads at most maxOutboxBytes, so
// a huge file in the outbox costs no more memory than that.
func (o outbox) load(id string) (*outboxEntry, error) {
	f, err := os.Open(o.path(id))
	if err != nil {
		return nil, err
	}
	defer f.Close()

	tooLarge := func() error {
		return fmt.Errorf("outbox file %s is larger than %d MiB, far above any message a relay accepts: remove it", o.path(id), maxOutboxBytes>>20)
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > maxOutboxBytes {
		return nil, tooLarge()
	}
	// The limit also holds for a file that grows while it is read.
	b, err := io.ReadAll(io.LimitReader(f, maxOutboxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("outbox file %s: %w", o.path(id), err)
	}
	if len(b) > maxOutboxBytes {
		return nil, tooLarge()
	}

	info, err := audio.ReadOggOpus(bytes.NewReader(b), maxOutboxBytes)
	if err != nil {
		return nil, fmt.Errorf("outbox file %s: %w", o.path(id), err)
	}
	conv := info.Tags[outboxConversationTag]
	if _, _, err := proto.ParseConversation(conv); err != nil {
		return nil, fmt.Errorf("outbox file %s: invalid %s tag %q: %w", o.path(id), outboxConversationTag, conv, err)
	}
	enc := &audio.Encoded{Packets: info.Packets, PreSkip: info.PreSkip, Samples: info.Samples,
		InputRate: int(info.InputRate)}
	return &outboxEntry{id: id, conv: conv, enc: enc}, nil
}

// list returns the ids of the waiting messages, oldest first. A missing
// directory is an empty outbox. Files whose name is not a message id are
// skipped.
func (o outbox) list() ([]string, error) {
	entries, err := os.ReadDir(o.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the outbox: %w", err)
	}
	var ids []string
	for _, de := range entries {
		id, ok := strings.CutSuffix(de.Name(), ".ogg")
		if !ok || !de.Type().IsRegular() {
			continue
		}
		if u, err := ulid.ParseStrict(id); err != nil || u.String() != id {
			continue
		}
		ids = append(ids, id)
	}
	// ULIDs sort by creation time.
	sort.Strings(ids)
	return ids, nil
}

// remove deletes the entry of a message the relay has stored.
func (o outbox) remove(id string) error {
	err := os.Remove(o.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// renew gives the entry of message m a new id, the current time's, by
// renaming its file, and updates m. The relay accepts message ids up to
// 24 hours old, so an entry that waited longer is stored under a new id.
// NOTE: if an earlier attempt stored the message and only the reply was
// lost, the message is stored twice.
func (o outbox) renew(m *outboxEntry) error {
	id := ulid.Make().String()
	if err := os.Rename(o.path(m.id), o.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("give outbox entry %s a new id: %w", m.id, err)
	}
	m.id = id
	return nil
}

// maxKeptIDAge is the oldest message id that the engine sends as it is.
// The relay rejects ids more than 24 hours old, and the hour between
// allows for a clock that runs behind the relay's.
const maxKeptIDAge = 23 * time.Hour

// idAge returns how long ago message id was made, or 0 for an invalid id.
func idAge(id string, now time.Time) time.Duration {
	u, err := ulid.ParseStrict(id)
	if err != nil {
		return 0
	}
	return now.Sub(ulid.Time(u.Time()))
}

// reject moves the entry of a message the relay rejected to the failed
// directory, so it is not sent again, and returns its new path.
func (o outbox) reject(id string) (string, error) {
	failed := filepath.Join(o.dir, "failed")
	if err := os.MkdirAll(failed, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(failed, id+".ogg")
	if err := os.Rename(o.path(id), path); err != nil {
		return "", err
	}
	return path, nil
}

// oggSerial returns the Ogg stream serial number of message id: the last
// four bytes of its ULID, as the relay chooses it.
func oggSerial(id string) uint32 {
	u, err := ulid.ParseStrict(id)
	if err != nil {
		return 0
	}
	return uint32(u[12])<<24 | uint32(u[13])<<16 | uint32(u[14])<<8 | uint32(u[15])
}
