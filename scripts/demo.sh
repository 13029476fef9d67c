#!/usr/bin/env bash
# Installs what the build needs, builds vm and relay, then runs the main
# job on embedded defaults: a local relay, two users, one voice message
# from alice to bob, fetched by bob as an Ogg Opus file.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
scripts/build.sh

demo=${DEMO_DIR:-$PWD/demo}
rm -rf "$demo"
mkdir -p "$demo"

bin/relay serve --listen 127.0.0.1:0 --data "$demo/relay" >"$demo/relay.out" 2>"$demo/relay.log" &
relay_pid=$!
trap 'kill "$relay_pid" 2>/dev/null; wait "$relay_pid" 2>/dev/null || true' EXIT

addr=
for _ in $(seq 100); do
	addr=$(sed -n 's/^relay listening on \([^ ]*\).*/\1/p' "$demo/relay.out")
	[[ -n "$addr" ]] && break
	if ! kill -0 "$relay_pid" 2>/dev/null; then
		cat "$demo/relay.log" >&2
		exit 1
	fi
	sleep 0.1
done
if [[ -z "$addr" ]]; then
	echo "relay did not start within 10 s; its log is $demo/relay.log" >&2
	exit 1
fi
echo "relay running on $addr (data in $demo/relay)"

for user in alice bob; do
	bin/vm --home "$demo/$user" init >/dev/null
	bin/vm --home "$demo/$user" register "$user" --relay "$addr"
done

id=$(bin/vm --home "$demo/alice" send testdata/speech-16k.wav --to @bob)
echo "alice sent message $id to @bob"

echo "bob fetches:"
bin/vm --home "$demo/bob" fetch --out "$demo/bob/messages"
