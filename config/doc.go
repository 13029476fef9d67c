// Package config resolves the directories, configuration files and
// environment variables of vm and the relay.
//
// The client keeps its identity key, config.toml, known_relays and its
// record of fetched messages in one home directory. The home directory is,
// in order of precedence, the --home flag, the VM_HOME environment
// variable, $XDG_CONFIG_HOME/vm, or ~/.config/vm. Settings are layered the
// same way: built-in defaults, then config.toml, then the environment,
// then command-line flags, which the caller applies last.
package config
