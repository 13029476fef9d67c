// Package blob stores the audio of messages as opaque objects under string
// keys. The relay writes each message to a Writer while it arrives, then
// commits it; a committed object is durable and visible under its key.
//
// Keys are slash-separated relative paths whose parts are made of ASCII
// letters, digits, '.', '-' and '_' and do not start with '.'. Disk keeps each object as a file under its
// root directory; S3 keeps them in a bucket of any S3-compatible service.
package blob

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// ErrNotFound is returned by Open and Delete when no object has the key.
var ErrNotFound = errors.New("blob not found")

// ErrInvalidKey is returned for a key that is empty, absolute, has an
// empty part or a part starting with '.', or contains a character outside
// the key alphabet.
var ErrInvalidKey = errors.New("invalid blob key")

// Store is a durable object store for message audio.
type Store interface {
	// Create starts a new object under key. Nothing is visible under key
	// until the Writer commits.
	Create(ctx context.Context, key string) (Writer, error)
	// Open returns the object's content and its size in bytes. The caller
	// closes the reader.
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
	// Delete removes the object. It returns ErrNotFound when there is none.
	Delete(ctx context.Context, key string) error
	// Check reports whether the store can write and read objects now.
	Check(ctx context.Context) error
	// List calls fn for every committed object whose key starts with
	// prefix, in no particular order, and stops at the first error fn
	// returns. An empty prefix lists every object. Objects committed or
	// deleted while List runs may or may not be seen.
	List(ctx context.Context, prefix string, fn func(Object) error) error
}

// Object describes a committed object.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Writer receives the content of one object. Exactly one of Commit or
// Abort ends it; Abort after Commit does nothing.
type Writer interface {
	io.Writer
	// Commit makes the written content durable and visible under the key,
	// replacing an existing object with the same key. It blocks until the
	// content is on stable storage.
	Commit(ctx context.Context) error
	// Abort discards the written content.
	Abort() error
}

// Put stores everything r yields under key in s, and returns once the
// object is durable.
func Put(ctx context.Context, s Store, key string, r io.Reader) error {
	w, err := s.Create(ctx, key)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return err
	}
	return w.Commit(ctx)
}

// CheckKey returns ErrInvalidKey unless key is a valid object key.
func CheckKey(key string) error {
	if key == "" || len(key) > 512 || key[0] == '/' {
		return ErrInvalidKey
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part[0] == '.' || !validPart(part) {
			return ErrInvalidKey
		}
	}
	return nil
}

func validPart(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '-' || c == '_':
		default:
			return false
		}
	}
	return true
}
