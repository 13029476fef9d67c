package relay

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vm-voice/vm/proto/pb"
)

// Invite tokens live as files, not in NATS, so `relay invite` can add one
// while the relay runs: the embedded NATS server locks its store. Each
// unused token is an empty file DataDir/invites/<hex SHA-256 of the
// token>; redeeming a token removes its file, which succeeds for exactly
// one caller, so a token is single-use even across processes. The file
// names do not reveal the tokens.

// inviteTokenBytes is the length of a token's random part.
const inviteTokenBytes = 16

// inviteStore is the invites directory.
type inviteStore struct {
	dir string
}

func openInvites(dataDir string) (*inviteStore, error) {
	dir := filepath.Join(dataDir, "invites")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create invites directory: %w", err)
	}
	return &inviteStore{dir: dir}, nil
}

// NewInvite creates a single-use invite token under dataDir and returns
// it. A running relay accepts it at once.
func NewInvite(dataDir string) (string, error) {
	inv, err := openInvites(dataDir)
	if err != nil {
		return "", err
	}
	b := make([]byte, inviteTokenBytes)
	rand.Read(b)
	token := hex.EncodeToString(b)
	if err := inv.add(token); err != nil {
		return "", err
	}
	return token, nil
}

func (inv *inviteStore) path(token string) string {
	sum := sha256.Sum256([]byte(token))
	return filepath.Join(inv.dir, hex.EncodeToString(sum[:]))
}

func (inv *inviteStore) add(token string) error {
	if err := writeFileSync(inv.path(token), nil, 0o600); err != nil {
		return fmt.Errorf("store invite token: %w", err)
	}
	return nil
}

// redeem uses up token, or returns a protocol error when it is unknown or
// used.
func (inv *inviteStore) redeem(token string) error {
	if len(token) != 2*inviteTokenBytes {
		return errorf(pb.ErrorCode_ERROR_CODE_INVALID_INVITE, "invalid invite token: want %d hex characters", 2*inviteTokenBytes)
	}
	err := os.Remove(inv.path(token))
	if errors.Is(err, fs.ErrNotExist) {
		return errorf(pb.ErrorCode_ERROR_CODE_INVALID_INVITE, "invite token not found or already used: ask the relay operator for a new one")
	}
	if err != nil {
		return unavailable("redeem invite token", err)
	}
	return nil
}

// restore puts back a token whose registration failed after redeem.
func (inv *inviteStore) restore(token string) {
	inv.add(token)
}
