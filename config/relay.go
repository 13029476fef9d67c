package config

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
)

// DefaultRelayListen is the relay's default QUIC address: UDP port 4433
// on every IPv4 interface, because a relay serves other machines.
const DefaultRelayListen = "0.0.0.0:4433"

// RelayEnvPrefix starts the name of every relay environment variable.
const RelayEnvPrefix = "RELAY_"

// RelayEnvName returns the environment variable that sets a relay flag:
// RELAY_ and the flag's name in upper snake case, so --max-message-bytes
// is RELAY_MAX_MESSAGE_BYTES.
func RelayEnvName(flag string) string {
	return RelayEnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ApplyRelayEnv sets every flag in fs that the command line left unset
// from its environment variable, when that is set and not empty. Flags
// given on the command line win over the environment.
func ApplyRelayEnv(fs *pflag.FlagSet, env Getenv) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := RelayEnvName(f.Name)
		v := env(name)
		if v == "" {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = fmt.Errorf("invalid %s=%q: %w", name, v, serr)
		}
	})
	return err
}

// DefaultRelayDataDir returns the relay's default data directory:
// $XDG_DATA_HOME/vm-relay, or ~/.local/share/vm-relay.
func DefaultRelayDataDir(env Getenv) (string, error) {
	base, err := xdgDir(env, envXDGDataHome, filepath.Join(".local", "share"))
	if err != nil {
		return "", fmt.Errorf("default relay data directory: %w; set --data", err)
	}
	return filepath.Join(base, "vm-relay"), nil
}

// ApplyRelayFile sets every flag in fs that neither the command line nor
// the environment set from the TOML file at path. Keys are flag names
// ("max-message-duration = \"2m\"", "s3-path-style = true"); an unknown
// key is an error, so a misspelt setting is never silently ignored. Call
// it after ApplyRelayEnv, which marks the flags it sets as changed.
func ApplyRelayFile(fs *pflag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read relay config: %w", err)
	}
	if len(data) > maxFileSize {
		return fmt.Errorf("relay config %s is %d bytes, above the limit of %d", path, len(data), maxFileSize)
	}
	var values map[string]any
	if _, err := toml.Decode(string(data), &values); err != nil {
		return fmt.Errorf("parse relay config %s: %w", path, err)
	}
	for _, key := range slices.Sorted(maps.Keys(values)) {
		f := fs.Lookup(key)
		if f == nil || key == "config" {
			return fmt.Errorf("relay config %s: unknown setting %q (settings are the flag names of relay serve)", path, key)
		}
		if f.Changed {
			continue
		}
		if err := fs.Set(key, fmt.Sprint(values[key])); err != nil {
			return fmt.Errorf("relay config %s: invalid %s: %w", path, key, err)
		}
	}
	return nil
}
