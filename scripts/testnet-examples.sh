#!/bin/sh
# Regenerates the committed testnet examples (make testnet-examples):
#   test/testnet/scenarios/example-simnet-small  small.toml, mode simnet
#   test/testnet/scenarios/example-sweep         the CI scenario over three
#                                                latencies and three seeds
#   test/testnet/scenarios/example-festival      festival.toml, mode simnet:
#                                                reception outages, live vs
#                                                late vs missed (~3 min CPU)
# The first two are byte-reproducible for a seed (apart from run.json,
# provenance's times and PNG metadata); the festival is not yet (reception
# outages, docs/testnet.md "Simulated network: determinism"). With ALL=1 it also reruns example-small (mode
# sim, real time: about 3 minutes, and not byte-reproducible).
# Uses bin/imigee-testnet and bin/imigee-testnet-simnet (make testnet-bin).
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
T=$BIN/imigee-testnet
S=test/testnet/scenarios
[ -x "$T" ] && [ -x "$BIN/imigee-testnet-simnet" ] || { echo "run make testnet-bin first" >&2; exit 2; }

regen() { # dir, then run arguments
	dir=$1; shift
	tmp=$(mktemp -d)
	"$T" "$@" --out "$tmp/out"
	# Trim what is large and derivable: the event log stays (the detections
	# and deliveries are in their CSVs too).
	rm -rf "$dir"
	mv "$tmp/out" "$dir"
	rmdir "$tmp"
}

regen "$S/example-simnet-small" run "$S/small.toml" --mode simnet --quiet
# Paths in provenance name this machine's checkout: keep them relative.
sed -i "s|$(pwd)/||g" "$S/example-simnet-small/provenance.json"

regen "$S/example-festival" run "$S/festival.toml" --mode simnet --quiet
sed -i "s|$(pwd)/||g" "$S/example-festival/provenance.json"

tmp=$(mktemp -d)
"$T" sweep test/testnet/simnet/testdata/small.toml --out "$tmp/sweep" --seeds 1-3 \
	--param network.latency=10ms,100ms,300ms --no-plots >/dev/null
# Keep the tables and re-plot; the per-run directories are reproducible from them.
"$T" sweep test/testnet/simnet/testdata/small.toml --out "$tmp/sweep" --seeds 1-3 \
	--param network.latency=10ms,100ms,300ms
rm -rf "$S/example-sweep"
mkdir -p "$S/example-sweep"
cp "$tmp/sweep"/sweep_* "$S/example-sweep/"
rm -rf "$tmp"

if [ "${ALL:-}" = 1 ]; then
	regen "$S/example-small" run "$S/small.toml" --mode sim --quiet
	sed -i "s|$(pwd)/||g" "$S/example-small/provenance.json"
fi
echo "examples regenerated under $S"
