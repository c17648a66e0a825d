// Package testnet runs Imigee networks for research: a Scenario (TOML)
// names the nodes, relays, friendship graph, mobility model and workload;
// Run drives a Backend that runs the real node and relay code, and writes
// a results directory comparing the mobility model's ground truth with
// what the nodes reported, plus delivery, traffic and relay metrics, event
// logs and PNG plots. The command is cmd/imigee-testnet; the reference is
// docs/testnet.md.
//
// # Pieces
//
//   - scenario.go, validate.go, override.go: the scenario file, its
//     defaults and checks, and --set key=value overrides.
//   - graph.go: friendship graphs (gonum generators; Watts–Strogatz here).
//   - mobility.go, workday.go: static, random waypoint, gatherings (with
//     optional walking in), the working-day model, trace replay, and GPS
//     noise on fed positions; all deterministic for the seed, in metres
//     around a centre (Projection).
//   - groundtruth.go: friend meetings within each distance, per step, with
//     a grid (or the friend list, whichever is cheaper): O(n + close pairs)
//     per step, 10,000 nodes for an hour of 10 s steps in under a second.
//   - plan.go: the workload schedule (items, offline periods, restarts).
//   - driver.go: the Backend, NodeDriver and RelayDriver interfaces the
//     simulator drives, and the Event log format.
//   - runner.go, clock.go: the run loop on a virtual clock.
//   - metrics.go, records.go, output.go: summary, detections.csv,
//     deliveries.csv and the other files.
//   - detection.go: pair-epoch trials binned by true distance with Wilson
//     intervals, against the shipped cell rule's reference curve.
//   - plot.go, plotextra.go: the plots (Kaplan–Meier discovery latency,
//     time to deliver per path on a log axis, contact and inter-contact
//     CCDFs, traffic distributions, storage per relay, true distance at
//     detection); plots without data are listed in plots_omitted.txt.
//   - provenance.go: provenance.json, the resolved scenario and inputs.
//   - sweep.go: parameter sweeps over seeds, mean and 95 % t intervals.
//   - reception.go, late.go, plotlate.go: reception outages (per phone,
//     per place) driven through NodeDriver.SetNetwork, and every meeting
//     classified as found live, late (friend_was_nearby, after the fact)
//     or missed, with its delay; summary.json's late section,
//     meeting_outcomes.csv and two plots (issue 10).
//   - analytics.go: the [analytics] switch (two collector relays, every
//     phone reports its day at the end) and analytics.json/csv, the
//     published totals beside the event log's ground truth.
//   - component.go: the pprof label naming the component (node, relay,
//     driver) a goroutine works for; simnet keys its random streams on it.
//
// Backends live in subpackages: inproc runs real node.Node and relay.Relay
// values in this process on 127.0.0.1; procs runs imigee and imigee-relay
// processes and drives them through the node's control socket. No
// protocol logic is re-implemented here; the simulator only feeds
// locations and items and reads events.
//
// # Concurrency
//
// Run owns one goroutine (the caller's) that walks virtual time; backends
// call Env.Emit from any goroutine (the recorder locks). VClock is safe for
// concurrent use. Everything else is single-goroutine.
//
// # Determinism
//
// Graph, mobility, ground truth and workload are pure functions of the
// scenario and seed (each with its own random stream). The summary is
// byte-identical for equal inputs when the backend is deterministic and
// the clock stepped (Options.Stepped; TestRunFakeBackend). Over real
// sockets in real time (mode sim today) timing varies from run to run; a
// simulated network under testing/synctest is the way to exact
// reproducibility (docs/testnet.md, "Simulated network").
//
// # Caveats
//
// Ground truth is sampled every Step: meetings shorter than a step can be
// missed and interval ends are rounded to steps. Distances are planar
// (equirectangular projection), exact to well under 1 % over a city.
// Gathering attendees appear at the place unless mobility.walk_in is set.
// The detection curve counts a node's whole "nearby" window (two epochs
// after the last match), and a walking phone re-announces at every cell
// change, so for walking pairs its tail lies above the reference curve of
// a pair standing at that distance.
//
// # Tests
//
// Unit tests cover parsing, defaults and validation; graph sizes and
// degrees per seed; mobility determinism, bounds and trace replay; ground
// truth on hand-made traces and against brute force; metrics on synthetic
// event logs; plots are decoded as PNGs, and each is drawn or explained
// (TestPlotsAreValidPNGs); overrides are checked like the file
// (TestSetOverrides); the resolved scenario parses back to the one that
// ran (TestProvenanceRoundTrip); Wilson intervals, the reference curve,
// trials and the detection curve (detection_test.go); sweep points, seeds
// and t intervals (sweep_test.go); the working-day model, walking in and
// GPS noise (workday_test.go); outage and dead-zone parsing and
// validation, the reception model, live/late/missed classification with
// delays, false late detections and items after a late match on
// synthetic event streams, and the runner telling nodes of reception
// changes (late_test.go). inproc's TestTinyScenario runs
// real nodes and two relays: friends 49 m apart for a whole run, on
// different relays, are detected by both sides (P5 end to end) and every
// item reaches its online friends; TestOfflineFriendGetsItemsOnReturn
// checks the mailbox path. procs' TestProcsScenario does the same with
// real processes, one of them offline for a while. simnet's TestSimLate
// runs a phone without reception through a meeting and checks that its
// meetings are found late, hours after, by both sides. The committed
// examples under scenarios/ are kept honest by TestCommittedExamplesCurrent
// (each simnet example's ground truth, records and summary recomputed from
// its events with the current code, its scenario.toml equal to its shipped
// scenario resolved today), TestCommittedSummariesCurrent and
// TestCommittedSweepCurrent (every field and column the code writes);
// `make examples` regenerates them. Sweep error bars of rates stop at 0
// and 1 (TestSweepBar); log axes have no tick past their end
// (TestInRangeTicks).
package testnet
