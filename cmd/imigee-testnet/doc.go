// Command imigee-testnet runs Imigee testnets for research: a scenario
// file (nodes, relays, friendship graph, mobility, workload) drives the
// real node and relay code, and the results directory gets ground truth
// versus what the nodes saw, delivery, traffic and relay metrics, event
// logs and plots.
//
//	imigee-testnet run scenario.toml --out DIR [--mode sim|simnet|procs]
//	imigee-testnet run scenario.toml --out DIR --mode procs --workers h1:7400,h2:7400 --token-file F
//	imigee-testnet worker --listen 0.0.0.0:7400 --advertise h1 --token-file F
//	imigee-testnet validate scenario.toml
//
// --mode simnet (experimental) runs the test TestSimScenario of package
// test/testnet/simnet with `go test` (testing/synctest, which gives it
// virtual time, has no other entry point), so it needs the source tree.
//
// "worker" serves one machine to a controller's "run --mode procs
// --workers" (package test/testnet/procs/worker): it starts the relay and
// node processes the controller places there and relays their commands
// and events. Without a token file it listens only on loopback. It runs
// until SIGINT or SIGTERM, then stops its processes. deploy/testnet has a
// compose file for several workers on one host.
//
// The reference is docs/testnet.md. Exit codes: 0 success, 1 run failure,
// 2 usage or scenario error.
package main
