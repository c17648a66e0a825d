#!/bin/sh
# Regenerates every committed testnet example from its shipped scenario
# (make examples, alias make testnet-examples):
#   test/testnet/scenarios/example-simnet-small  small.toml, mode simnet (~10 s)
#   test/testnet/scenarios/example-festival      festival.toml, mode simnet:
#                                                reception outages, live vs
#                                                late vs missed (~3 min CPU)
#   test/testnet/scenarios/example-sweep         simnet/testdata/small.toml over
#                                                three latencies and three seeds
#                                                (~1 min CPU)
#   test/testnet/scenarios/example-small         small.toml, mode sim: the worked
#                                                example; real time, about 3 min
#                                                of wall time on an idle machine.
#                                                Skipped with QUICK=1; SPEEDUP=10
#                                                runs it at half the pace.
# example-simnet-small and example-sweep are byte-reproducible for a seed
# (apart from run.json, provenance's times and PNG metadata; on a loaded
# machine a delivery time can move by 10-20 ms: docs/testnet.md "Simulated
# network: determinism"); the festival's counts can move by a meeting or
# two (reception outages); example-small runs against the wall clock and
# is refused when it fell more than a step behind (max_lag_s in run.json):
# rerun on a quieter machine. At the end it prints the figures
# docs/testnet.md quotes, to check against the text.
# test/testnet's TestCommitted* fail when the examples no longer match the
# shipped scenarios or the analysis code.
# Uses bin/imigee-testnet and bin/imigee-testnet-simnet (make testnet-bin);
# build them from a committed tree so provenance.json names the commit.
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
T=$BIN/imigee-testnet
S=test/testnet/scenarios
[ -x "$T" ] && [ -x "$BIN/imigee-testnet-simnet" ] || { echo "run make testnet-bin first" >&2; exit 2; }
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
	echo "warning: uncommitted changes: provenance.json will say modified" >&2
fi

# Everything is made in a staging directory and moved in at the end, so
# the tree is unmodified while the runs record their provenance.
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

# regen NAME RUN-ARGS...: run into $STAGE/NAME.
regen() {
	name=$1; shift
	"$T" "$@" --out "$STAGE/$name"
	# Paths in provenance name this machine's checkout: keep them relative.
	sed -i "s|$(pwd)/||g; s|$STAGE/$name|OUT|g" "$STAGE/$name/provenance.json"
}

regen example-simnet-small run "$S/small.toml" --mode simnet --quiet
regen example-festival run "$S/festival.toml" --mode simnet --quiet

"$T" sweep test/testnet/simnet/testdata/small.toml --out "$STAGE/sweep" --seeds 1-3 \
	--param network.latency=10ms,100ms,300ms
# Keep the tables and plots; the per-run directories are reproducible from them.
mkdir -p "$STAGE/example-sweep"
cp "$STAGE/sweep"/sweep_* "$STAGE/example-sweep/"

keep="example-simnet-small example-festival example-sweep"
if [ "${QUICK:-}" != 1 ]; then
	# SPEEDUP=10 halves the pace of the real-time run on a loaded machine
	# (network.speedup; recorded in provenance.json as an override).
	regen small run "$S/small.toml" --mode sim --quiet --no-plots ${SPEEDUP:+--set network.speedup=$SPEEDUP}
	lag=$(jq -r '.max_lag_s // 0' "$STAGE/small/run.json")
	step=$(grep -E '^step *=' "$S/small.toml" | sed 's/[^0-9.]//g')
	if awk -v l="$lag" -v s="$step" 'BEGIN{exit !(l > s)}'; then
		echo "example-small: the run fell ${lag} s behind the clock (step ${step} s): not kept; rerun on a quieter machine" >&2
		refused=1
	else
		# The worked example keeps its summary and how it was made; the
		# plots of docs/testnet.md are example-simnet-small's.
		mkdir -p "$STAGE/example-small"
		for f in summary.json run.json provenance.json scenario.toml; do cp "$STAGE/small/$f" "$STAGE/example-small/"; done
		keep="$keep example-small"
	fi
fi
for d in $keep; do
	rm -rf "${S:?}/$d"
	mv "$STAGE/$d" "$S/$d"
done

# The figures docs/testnet.md quotes.
for d in example-small example-simnet-small example-festival; do
	f=$S/$d/summary.json
	[ -f "$f" ] || continue
	echo "== $d ($(jq -r .mode "$f"))"
	jq -r '.meetings.by_distance[] | "  <= \(.distance_m) m: \(.meetings) meetings, detected \(.detected), both \(.detected_both), missed \(.missed), short \(.short); latency p50 \(.latency_p50_s) s p90 \(.latency_p90_s) s"' "$f"
	jq -r '"  false detections \(.meetings.false) of \(.meetings.detections)",
	       "  items \(.delivery.items) to \(.delivery.recipients) recipients: delivered \(.delivery.delivered), lost \(.delivery.lost); ttd p50 \(.delivery.ttd_p50_s) s p90 \(.delivery.ttd_p90_s) s p99 \(.delivery.ttd_p99_s) s",
	       (.delivery.by_path // [] | .[] | "  via \(.path): \(.delivered) (p50 \(.ttd_p50_s) s, p90 \(.ttd_p90_s) s, p99 \(.ttd_p99_s) s)"),
	       "  relay peak stored \(.relay.peak_stored_bytes) B, rendezvous entries \(.relay.peak_rendezvous_entries)",
	       (.late.by_distance[]? | "  late <= \(.distance_m) m: \(.meetings) meetings, \(.in_outage) in outage, live \(.live), late \(.late) (both \(.late_both)), missed \(.missed); live delay p50 \(.live_delay_p50_s) s p90 \(.live_delay_p90_s) s; late delay p50 \(.late_delay_p50_s) s p90 \(.late_delay_p90_s) s"),
	       "  late: detections \(.late.detections), false \(.late.false), items after late \(.late.items_after_late)"' "$f"
done
echo "== example-sweep: ttd_p50_s"
grep ',ttd_p50_s,' "$S/example-sweep/sweep_aggregate.csv" || true
echo "examples regenerated under $S: $keep"
[ -z "${refused:-}" ] || exit 1
