package client

import (
	"crypto/rand"
	"sync"

	"github.com/oklog/ulid/v2"
)

var (
	idMu      sync.Mutex                       // guards idEntropy
	idEntropy = ulid.Monotonic(rand.Reader, 0) // monotonic within a millisecond
)

// NewMessageID returns a new ULID for a message. IDs made by one process
// increase strictly, even within one millisecond.
func NewMessageID() string {
	idMu.Lock()
	defer idMu.Unlock()
	return ulid.MustNew(ulid.Now(), idEntropy).String()
}
