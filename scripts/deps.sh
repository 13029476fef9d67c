#!/usr/bin/env bash
# Installs the Debian packages that building vm needs, or with --test
# also those its tests use. Packages already present are skipped.
set -euo pipefail

build=(pkg-config gcc libopus-dev libopusfile-dev portaudio19-dev libsoxr-dev)
test=(espeak-ng sox opus-tools ffmpeg tmux)

want=("${build[@]}")
if [[ "${1:-}" == --test ]]; then
	want+=("${test[@]}")
fi

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} > 0)); then
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		sudo=(sudo)
	fi
	echo "installing: ${missing[*]}" >&2
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null; then
	echo "go not found: install Go 1.26 or newer from the Go project and put it on PATH" >&2
	exit 1
fi

# The S3 store's tests run against a real S3 server, versitygw.
if [[ "${1:-}" == --test ]]; then
	gobin=$(go env GOPATH)/bin
	if ! command -v versitygw >/dev/null && [[ ! -x "$gobin/versitygw" ]]; then
		echo "installing: versitygw (go install, about a minute)" >&2
		go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
	fi
fi
