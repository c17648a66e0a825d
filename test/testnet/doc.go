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
//   - scenario.go, validate.go: the scenario file, its defaults and checks.
//   - graph.go: friendship graphs (gonum generators; Watts–Strogatz here).
//   - mobility.go: static, random waypoint, gatherings, trace replay; all
//     deterministic for the seed, in metres around a centre (Projection).
//   - groundtruth.go: friend meetings within each distance, per step, with
//     a grid (or the friend list, whichever is cheaper): O(n + close pairs)
//     per step, 10,000 nodes for an hour of 10 s steps in under a second.
//   - plan.go: the workload schedule (items, offline periods, restarts).
//   - driver.go: the Backend, NodeDriver and RelayDriver interfaces the
//     simulator drives, and the Event log format.
//   - runner.go, clock.go: the run loop on a virtual clock.
//   - metrics.go, output.go, plot.go: summary, files and plots.
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
// Gathering attendees appear at the place without travelling to it.
//
// # Tests
//
// Unit tests cover parsing, defaults and validation; graph sizes and
// degrees per seed; mobility determinism, bounds and trace replay; ground
// truth on hand-made traces and against brute force; metrics on synthetic
// event logs; plots are decoded as PNGs. inproc's TestTinyScenario runs
// real nodes and two relays: friends 49 m apart for a whole run, on
// different relays, are detected by both sides (P5 end to end) and every
// item reaches its online friends; TestOfflineFriendGetsItemsOnReturn
// checks the mailbox path. procs' TestProcsScenario does the same with
// real processes, one of them offline for a while.
package testnet
