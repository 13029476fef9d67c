package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Environment variables that the client reads.
const (
	EnvHome          = "VM_HOME"         // home directory, below --home
	EnvRelay         = "VM_RELAY"        // relay address, above config.toml
	EnvTo            = "VM_TO"           // default recipient, above config.toml
	envXDGConfigHome = "XDG_CONFIG_HOME" // base of the default home directory
	envXDGDataHome   = "XDG_DATA_HOME"   // base of the default message directory
	envUserHome      = "HOME"            // fallback when XDG variables are unset
)

// Paths are the client's directories.
type Paths struct {
	// Home contains the identity key, config.toml, known_relays and the
	// record of fetched messages.
	Home string
	// Messages is the default directory that vm fetch writes files to.
	Messages string
}

// Getenv returns the value of an environment variable, as os.Getenv does.
type Getenv func(key string) string

// ResolvePaths returns the client's directories. flagHome is the value of
// the --home flag, or "" when it is not given. A home directory chosen by
// --home or VM_HOME also contains the messages directory, so that several
// users on one machine keep their data apart. Otherwise the directories
// follow the XDG Base Directory convention. Relative XDG values are
// ignored, as that convention requires.
func ResolvePaths(flagHome string, env Getenv) (Paths, error) {
	explicit := flagHome
	if explicit == "" {
		explicit = env(EnvHome)
	}
	if explicit != "" {
		home, err := filepath.Abs(explicit)
		if err != nil {
			return Paths{}, fmt.Errorf("resolve home directory %q: %w", explicit, err)
		}
		return Paths{Home: home, Messages: filepath.Join(home, "messages")}, nil
	}
	configBase, err := xdgDir(env, envXDGConfigHome, ".config")
	if err != nil {
		return Paths{}, err
	}
	dataBase, err := xdgDir(env, envXDGDataHome, filepath.Join(".local", "share"))
	if err != nil {
		return Paths{}, err
	}
	return Paths{
		Home:     filepath.Join(configBase, "vm"),
		Messages: filepath.Join(dataBase, "vm", "messages"),
	}, nil
}

// xdgDir returns the absolute value of the XDG variable key, or the user's
// home directory joined with fallback.
func xdgDir(env Getenv, key, fallback string) (string, error) {
	if dir := env(key); filepath.IsAbs(dir) {
		return dir, nil
	}
	userHome := env(envUserHome)
	if !filepath.IsAbs(userHome) {
		return "", errors.New("missing home directory: set --home, VM_HOME or HOME")
	}
	return filepath.Join(userHome, fallback), nil
}

// EnsureHome creates the home directory with mode 0700 if it is missing.
// It leaves the mode of an existing directory as it is.
func EnsureHome(home string) error {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("create home directory: %w", err)
	}
	return nil
}
