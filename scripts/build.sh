#!/usr/bin/env bash
# Builds the vm and relay binaries into bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(git describe --always --dirty 2>/dev/null || echo dev)
go build -ldflags "-X main.version=$version" -o bin/vm ./cmd/vm
# The relay reports relay.Version at login, in `relay version` and in the
# vendor string of the Ogg files it stores.
go build -ldflags "-X github.com/vm-voice/vm/relay.Version=$version" -o bin/relay ./cmd/relay
