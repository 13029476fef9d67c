package client

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/proto"
)

// FetchedFile is the name of the record of fetched messages in the home
// directory.
const FetchedFile = "fetched"

// FetchedLog is the append-only record of messages that vm fetch has
// written, one "CONVERSATION MESSAGE_ID" line each. A message is keyed by
// its conversation too, so that a sender who reuses another message's id
// in a different conversation cannot hide a message.
//
// NOTE: the file only grows, by about 40 bytes per message, and is read
// whole by OpenFetchedLog.
type FetchedLog struct {
	path string
	mu   sync.Mutex          // guards seen and appends to the file
	seen map[string]struct{} // keys "conv msgid"
}

// OpenFetchedLog reads the record at path; a missing file is an empty
// record. It returns the number of malformed lines, which it skips, so a
// damaged record costs a download again and never a lost message.
func OpenFetchedLog(path string) (log *FetchedLog, malformed int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &FetchedLog{path: path, seen: map[string]struct{}{}}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open fetched record: %w", err)
	}
	defer f.Close()
	seen, malformed, err := ParseFetched(f)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return &FetchedLog{path: path, seen: seen}, malformed, nil
}

// ParseFetched reads fetched record lines from r and returns the set of
// "CONVERSATION MESSAGE_ID" keys and the number of malformed lines,
// including lines too long to be an entry.
func ParseFetched(r io.Reader) (seen map[string]struct{}, malformed int, err error) {
	seen = map[string]struct{}{}
	br := bufio.NewReaderSize(r, 256)
	for {
		line, isPrefix, err := br.ReadLine()
		if err == io.EOF {
			return seen, malformed, nil
		}
		if err != nil {
			return nil, 0, err
		}
		if isPrefix {
			malformed++
			if err := skipLine(br); err != nil {
				return seen, malformed, err
			}
			continue
		}
		conv, id, ok := parseFetchedLine(string(line))
		if !ok {
			malformed++
			continue
		}
		seen[conv+" "+id] = struct{}{}
	}
}

// skipLine discards the rest of a line that ReadLine returned in part.
func skipLine(br *bufio.Reader) error {
	for {
		_, isPrefix, err := br.ReadLine()
		if err == io.EOF || (err == nil && !isPrefix) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// parseFetchedLine splits and checks one line of the record.
func parseFetchedLine(line string) (conv, id string, ok bool) {
	conv, id, ok = strings.Cut(line, " ")
	if !ok {
		return "", "", false
	}
	if _, _, err := proto.ParseConversation(conv); err != nil {
		return "", "", false
	}
	if parsed, err := ulid.ParseStrict(id); err != nil || parsed.String() != id {
		return "", "", false
	}
	return conv, id, true
}

// Has reports whether the message was fetched before.
func (l *FetchedLog) Has(conversation, msgID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.seen[conversation+" "+msgID]
	return ok
}

// Add records a fetched message and syncs the record to disk.
func (l *FetchedLog) Add(conversation, msgID string) error {
	line := conversation + " " + msgID
	if _, _, ok := parseFetchedLine(line); !ok {
		return fmt.Errorf("record fetched message %q in %q: invalid id", msgID, conversation)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record fetched message: %w", err)
	}
	_, err = f.WriteString(line + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("record fetched message in %s: %w", l.path, err)
	}
	l.seen[line] = struct{}{}
	return nil
}
