#!/usr/bin/env bash
# Installs what the tests need and runs the whole test suite. Tests start
# the servers they use (relay processes, embedded NATS) on loopback ports
# they choose, and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh --test
export PATH="$PATH:$(go env GOPATH)/bin"
go vet ./...
go test -race -count=1 -timeout 30m ./...
