// Command imigee-testnet runs Imigee testnets for research: a scenario
// file (nodes, relays, friendship graph, mobility, workload) drives the
// real node and relay code, and the results directory gets ground truth
// versus what the nodes saw, delivery, traffic and relay metrics, event
// logs and plots.
//
//	imigee-testnet run scenario.toml --out DIR [--mode sim|simnet|procs]
//	imigee-testnet validate scenario.toml
//
// --mode simnet (experimental) runs the test TestSimScenario of package
// test/testnet/simnet with `go test` (testing/synctest, which gives it
// virtual time, has no other entry point), so it needs the source tree.
//
// The reference is docs/testnet.md. Exit codes: 0 success, 1 run failure,
// 2 usage or scenario error.
package main
