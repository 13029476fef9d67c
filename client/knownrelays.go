package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// KnownRelaysFile is the name of the pinned relay keys file in the home
// directory.
const KnownRelaysFile = "known_relays"

// maxKnownRelaysSize bounds the known_relays file that Lookup reads.
const maxKnownRelaysSize = 1 << 20

// KnownRelay is one line of a known_relays file: a relay address and the
// fingerprint of its certificate key.
type KnownRelay struct {
	Addr        string
	Fingerprint string
	Line        int // 1-based line number in the file
}

// ParseKnownRelays parses a known_relays file. Each line is a relay
// address, white space and a "sha256:HEX" fingerprint. Blank lines and
// lines starting with '#' are skipped. A malformed line is an error that
// names its line number.
func ParseKnownRelays(data []byte) ([]KnownRelay, error) {
	var out []KnownRelay
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 || !validFingerprint(fields[1]) {
			return nil, fmt.Errorf("line %d: want ADDRESS sha256:HEX", n+1)
		}
		out = append(out, KnownRelay{Addr: fields[0], Fingerprint: fields[1], Line: n + 1})
	}
	return out, nil
}

// validFingerprint reports whether s is "sha256:" and 64 lowercase hex
// digits.
func validFingerprint(s string) bool {
	hexPart, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hexPart) != 64 {
		return false
	}
	for _, c := range []byte(hexPart) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// KnownRelays is a known_relays file, which pins the certificate key of
// each relay address on first use, as ssh's known_hosts does. Addresses
// match as written, so "localhost:4433" and "127.0.0.1:4433" are pinned
// separately.
type KnownRelays struct {
	Path string
}

// KeyChangedError is returned when a relay presents a certificate key
// other than the one pinned for its address.
type KeyChangedError struct {
	Addr   string
	Got    string // fingerprint the relay presented
	Pinned KnownRelay
	Path   string // known_relays file
}

func (e *KeyChangedError) Error() string {
	return fmt.Sprintf("relay %s presented key %s, but line %d of %s pins %s: "+
		"the relay's key changed, or someone is intercepting the connection; "+
		"if the relay's operator confirms a new key, delete line %d of %s and try again",
		e.Addr, e.Got, e.Pinned.Line, e.Path, e.Pinned.Fingerprint, e.Pinned.Line, e.Path)
}

// Lookup returns the first entry for addr, or ok false when addr is not
// pinned. A missing file pins nothing.
func (k *KnownRelays) Lookup(addr string) (entry KnownRelay, ok bool, err error) {
	data, err := k.read()
	if err != nil {
		return KnownRelay{}, false, err
	}
	entries, err := ParseKnownRelays(data)
	if err != nil {
		return KnownRelay{}, false, fmt.Errorf("%s: %w: fix or delete that line", k.Path, err)
	}
	for _, e := range entries {
		if e.Addr == addr {
			return e, true, nil
		}
	}
	return KnownRelay{}, false, nil
}

// Verify checks fingerprint against the pin of addr. It returns pinned
// false when addr has no pin yet, and a *KeyChangedError when the pin
// differs.
func (k *KnownRelays) Verify(addr, fingerprint string) (pinned bool, err error) {
	entry, ok, err := k.Lookup(addr)
	if err != nil || !ok {
		return false, err
	}
	if entry.Fingerprint != fingerprint {
		return true, &KeyChangedError{Addr: addr, Got: fingerprint, Pinned: entry, Path: k.Path}
	}
	return true, nil
}

// Add appends a pin for addr. The file is created with mode 0600 if it is
// missing, and only ever appended to.
func (k *KnownRelays) Add(addr, fingerprint string) error {
	if addr == "" || strings.ContainsAny(addr, " \t\r\n#") || !validFingerprint(fingerprint) {
		return fmt.Errorf("pin relay %q with key %q: invalid address or fingerprint", addr, fingerprint)
	}
	f, err := os.OpenFile(k.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pin relay key: %w", err)
	}
	line := addr + " " + fingerprint + "\n"
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("pin relay key in %s: %w", k.Path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("pin relay key in %s: %w", k.Path, err)
	}
	return f.Close()
}

// read returns the file's content, or nothing when it does not exist.
func (k *KnownRelays) read() ([]byte, error) {
	f, err := os.Open(k.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read known relays: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(f, maxKnownRelaysSize+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", k.Path, err)
	}
	if buf.Len() > maxKnownRelaysSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes", k.Path, maxKnownRelaysSize)
	}
	return buf.Bytes(), nil
}
