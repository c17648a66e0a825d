// Command imigee-testnet runs Imigee testnets for research: a scenario
// file (nodes, relays, friendship graph, mobility, workload) drives the
// real node and relay code, and the results directory gets ground truth
// versus what the nodes saw, delivery, traffic and relay metrics, event
// logs and plots.
//
//	imigee-testnet run scenario.toml --out DIR [--mode sim|simnet|procs] [--seed N] [--set k=v]...
//	imigee-testnet run scenario.toml --out DIR --mode procs --workers h1:7400,h2:7400 --token-file F
//	imigee-testnet sweep scenario.toml --out DIR --seeds 1-5 --param k=v1,v2 [--set k=v]...
//	imigee-testnet worker --listen 0.0.0.0:7400 --advertise h1 --token-file F
//	imigee-testnet validate scenario.toml [--truth] [--reference]
//
// Every results directory gets provenance.json, the resolved
// scenario.toml and copies of its inputs (test/testnet/provenance.go).
// "sweep" runs the product of parameter lists over seeds and tabulates
// mean and 95 % intervals (sweep.go here, test/testnet/sweep.go).
//
// --mode simnet runs TestSimScenario of package test/testnet/simnet in
// its compiled test binary, imigee-testnet-simnet, shipped next to this
// command (make testnet-bin; simnet.go says why it is a test binary):
// testing/synctest, which gives virtual time, has no other entry point.
// Without that binary the command builds it with the go command, which
// needs the source tree. TestSimnetFromShippedBinaries runs the two
// binaries from a directory of their own, with PATH holding only it and
// the scenario outside the repository.
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
