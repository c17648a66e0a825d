#!/bin/sh
# The local demo ("make demo", after "make build"): a relay and three nodes
# on 127.0.0.1 link, meet, and share a photo directly and through the relay.
# The story is told by bin/imigee-demo (cmd/imigee-demo); this script only
# finds it. Extra arguments are passed on (e.g. -keep).
set -eu
cd "$(dirname "$0")/.."
BIN="${BIN:-bin}"
if [ ! -x "$BIN/imigee-demo" ] || [ ! -x "$BIN/imigee" ] || [ ! -x "$BIN/imigee-relay" ]; then
	echo "demo: $BIN/imigee-demo, imigee or imigee-relay missing; run: make build" >&2
	exit 1
fi
exec "$BIN/imigee-demo" -bin-dir "$BIN" "$@"
