package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vm-voice/vm/config"
)

// File names of the identity key pair in the home directory.
const (
	IdentityFile       = "identity"
	IdentityPublicFile = "identity.pub"
)

// maxKeyFile bounds the size of an identity file that LoadIdentity reads.
const maxKeyFile = 16 << 10

// Identity is a user's Ed25519 identity key pair.
type Identity struct {
	Key ed25519.PrivateKey
}

// GenerateIdentity returns a new identity from crypto/rand.
func GenerateIdentity() (*Identity, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity key: %w", err)
	}
	return &Identity{Key: key}, nil
}

// Public returns the public key.
func (i *Identity) Public() ed25519.PublicKey {
	return i.Key.Public().(ed25519.PublicKey)
}

// Fingerprint returns the fingerprint of the public key in the form that
// the relay's certificate key is pinned in: "sha256:" and the hex SHA-256
// of the PKIX SubjectPublicKeyInfo.
func (i *Identity) Fingerprint() string {
	der, err := x509.MarshalPKIXPublicKey(i.Public())
	if err != nil {
		// Unreachable: every ed25519.PublicKey marshals.
		panic(err)
	}
	return SPKIFingerprint(der)
}

// SPKIFingerprint returns "sha256:" and the hex SHA-256 of a DER-encoded
// SubjectPublicKeyInfo.
func SPKIFingerprint(spki []byte) string {
	sum := sha256.Sum256(spki)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Save writes the private key to home/identity as PKCS#8 PEM with mode
// 0600 and the public key to home/identity.pub as PKIX PEM. It creates
// home with mode 0700 if needed, and returns an error wrapping
// fs.ErrExist when an identity exists and force is false.
func (i *Identity) Save(home string, force bool) error {
	if err := config.EnsureHome(home); err != nil {
		return err
	}
	path := filepath.Join(home, IdentityFile)
	if _, err := os.Stat(path); err == nil && !force {
		return fmt.Errorf("identity %s: %w", path, fs.ErrExist)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(i.Key)
	if err != nil {
		return fmt.Errorf("encode identity key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(i.Public())
	if err != nil {
		return fmt.Errorf("encode identity public key: %w", err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})
	if err := config.WriteFileAtomic(path, privPEM, 0o600); err != nil {
		return err
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	return config.WriteFileAtomic(filepath.Join(home, IdentityPublicFile), pubPEM, 0o644)
}

// ErrNoIdentity is returned by LoadIdentity when home contains no identity.
var ErrNoIdentity = errors.New("no identity")

// LoadIdentity reads the private key from home/identity. It rejects a key
// file that other users can read, as ssh does.
func LoadIdentity(home string) (*Identity, error) {
	path := filepath.Join(home, IdentityFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s: run vm init first", ErrNoIdentity, home)
	}
	if err != nil {
		return nil, fmt.Errorf("open identity: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open identity: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("identity %s has mode %04o, so other users can read it: run chmod 600 %s",
			path, perm, path)
	}
	if info.Size() > maxKeyFile {
		return nil, fmt.Errorf("identity %s: larger than %d bytes, not a key file", path, maxKeyFile)
	}
	b := make([]byte, info.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("read identity %s: %w", path, err)
	}
	return parseIdentity(path, b)
}

// parseIdentity decodes a PKCS#8 PEM Ed25519 private key.
func parseIdentity(path string, b []byte) (*Identity, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("identity %s: no PEM PRIVATE KEY block", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	ed, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("identity %s: a %T key, want Ed25519", path, key)
	}
	return &Identity{Key: ed}, nil
}
