package relay

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/quic-go/quic-go"
)

// resetKeyFile is the name, under the data directory, of the key that
// derives QUIC stateless reset tokens.
const resetKeyFile = "quic-reset.key"

// loadResetKey returns the relay's stateless reset key, creating it
// (32 random bytes, mode 0600) on first start. The key outlives the
// process, so a relay restarted on the same data directory derives the
// same reset tokens. It then resets each connection of its previous run
// at the client's next packet of more than 42 bytes, which quic-go
// requires before it sends a reset. Smaller packets, such as a bare
// keepalive PING, leave the client to its idle timeout. Relays that share
// a NATS cluster are separate QUIC endpoints, each with its own data
// directory and key.
func loadResetKey(dataDir string) (*quic.StatelessResetKey, error) {
	name := filepath.Join(dataDir, resetKeyFile)
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return createResetKey(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read stateless reset key: %w", err)
	}
	var key quic.StatelessResetKey
	if len(data) != len(key) {
		return nil, fmt.Errorf("invalid stateless reset key %s: %d bytes, want %d; delete the file and the relay makes a new one",
			name, len(data), len(key))
	}
	copy(key[:], data)
	return &key, nil
}

func createResetKey(name string) (*quic.StatelessResetKey, error) {
	var key quic.StatelessResetKey
	rand.Read(key[:])
	if err := writeFileSync(name, key[:], 0o600); err != nil {
		return nil, fmt.Errorf("write stateless reset key: %w", err)
	}
	return &key, nil
}
