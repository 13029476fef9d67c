#!/usr/bin/env bash
# Installs what the tests need and runs the whole test suite. Tests start
# the servers they use (relay processes, embedded NATS) on loopback ports
# they choose, and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh --test
export PATH="$PATH:$(go env GOPATH)/bin"
# The device tests need a virtual microphone and speaker. The team's
# script for them is beside the repository in CI. Without it those
# tests skip with a message naming the missing script.
if [[ -z "${VIRTUAL_AUDIO_SCRIPT:-}" && -f ../shared/audio/virtual-audio.sh ]]; then
	export VIRTUAL_AUDIO_SCRIPT=$(realpath ../shared/audio/virtual-audio.sh)
fi

go vet ./...
# The PortAudio binding converts an integer to unsafe.Pointer when it
# opens a stream, and the race detector's pointer checks reject that at the
# second stream. So the check is turned off for that package alone.
# -p 1 runs one package at a time: the live-audio and device tests
# measure real-time behaviour and share the virtual audio devices, and
# two cores shared with a concurrent package make their timing noisy.
go test -race -count=1 -p 1 -timeout 30m \
	-gcflags=github.com/gordonklaus/portaudio=-d=checkptr=0 ./...
