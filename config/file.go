package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/vm-voice/vm/proto"
)

// FileName is the name of the client's configuration file in its home
// directory.
const FileName = "config.toml"

// maxFileSize bounds config.toml, which contains a few short strings.
const maxFileSize = 64 << 10

// Client is the client's configuration. Its zero value is the default: no
// relay, no handle and no default recipient.
type Client struct {
	// Relay is the relay address as HOST:PORT.
	Relay string `toml:"relay,omitempty"`
	// Handle is the handle registered on Relay, without the '@'.
	Handle string `toml:"handle,omitempty"`
	// To is the recipient that vm send uses when --to is not given:
	// "@handle" or "#channel".
	To string `toml:"to,omitempty"`
	// Mic and Speaker name the capture and playback devices, as vm devices
	// lists them; empty means the system default.
	Mic     string `toml:"mic,omitempty"`
	Speaker string `toml:"speaker,omitempty"`
	// TalkMode is the terminal UI's push-to-talk mode: auto, hold or
	// toggle; empty means auto.
	TalkMode string `toml:"talk_mode,omitempty"`
}

// Load returns the defaults overridden by home's config.toml, if present,
// and then by the VM_RELAY and VM_TO environment variables. The caller
// applies flags on top and then calls Validate.
func Load(home string, env Getenv) (Client, error) {
	c, err := ReadFile(home)
	if err != nil {
		return Client{}, err
	}
	if v := env(EnvRelay); v != "" {
		c.Relay = v
	}
	if v := env(EnvTo); v != "" {
		c.To = v
	}
	return c, nil
}

// ReadFile returns the settings stored in home's config.toml, or the zero
// Client when the file does not exist. Unknown keys are an error, so a
// misspelt key is not silently ignored.
func ReadFile(home string) (Client, error) {
	path := filepath.Join(home, FileName)
	b, err := readSmall(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Client{}, nil
	}
	if err != nil {
		return Client{}, err
	}
	var c Client
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		return Client{}, fmt.Errorf("parse %s: %w", path, err)
	}
	if keys := md.Undecoded(); len(keys) > 0 {
		return Client{}, fmt.Errorf("parse %s: unknown key %q: the known keys are %s",
			path, keys[0].String(), strings.Join(Keys(), ", "))
	}
	return c, nil
}

// Keys returns the keys that config.toml accepts, in the order of the
// fields of Client, taken from their toml tags.
func Keys() []string {
	t := reflect.TypeFor[Client]()
	keys := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// readSmall reads a file of at most maxFileSize bytes.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxFileSize)
	}
	return b, nil
}

// WriteFile stores c in home's config.toml, replacing the file atomically.
// The home directory must exist.
func WriteFile(home string, c Client) error {
	var buf bytes.Buffer
	buf.WriteString("# vm client configuration; vm register updates relay and handle.\n")
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return fmt.Errorf("encode %s: %w", FileName, err)
	}
	return WriteFileAtomic(filepath.Join(home, FileName), buf.Bytes(), 0o600)
}

// Validate checks every non-empty field of c.
func (c Client) Validate() error {
	if c.Relay != "" {
		if err := CheckRelayAddr(c.Relay); err != nil {
			return err
		}
	}
	if c.Handle != "" {
		if err := proto.CheckName("handle", c.Handle); err != nil {
			return err
		}
	}
	if c.To != "" {
		if _, err := proto.ParseRecipient(c.To); err != nil {
			return err
		}
	}
	return nil
}

// CheckRelayAddr returns a user-facing error when addr is not HOST:PORT.
func CheckRelayAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || strings.ContainsAny(addr, " \t") {
		return fmt.Errorf("invalid relay address %q: use HOST:PORT, for example 127.0.0.1:4433", addr)
	}
	return nil
}
